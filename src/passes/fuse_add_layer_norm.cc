// fuse_add_layer_norm: LayerNormalization(axis=-1) of an Add that nothing else reads becomes one
// FusedAddLayerNorm(X, R, Scale[, B]) (docs/fused-ops.md): the sum is formed inside the normalization kernel
// instead of being written and read back. One operand must have the sum's shape (X); the other (R) may be a
// suffix of it (BERT's embeddings: token rows + [1, S, C] position rows). When R is a constant and X is itself
// an Add of a constant suffix and a full-shape value (x + c1 + c2), the two constants are added once at build
// time (by fold_constants). Residual Adds that a GEMM epilogue took already (FusedMatMul +residual) are not here
// any more: the pass runs after fuse_matmul_bias_activation.
#include <memory>

#include "ir/norm_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// For Add node `a` with a static output shape: the operand with the full shape (x) and the other one (r), which
// must be a suffix of it. nullopt when neither split works.
std::optional<std::pair<std::string, std::string>> split_add(const Graph& g, const Node& a) {
  if (a.op != OpKind::kAdd || a.inputs.size() != 2 || !a.has_output(0)) return std::nullopt;
  auto out = static_shape(g, a.outputs[0]);
  if (!out) return std::nullopt;
  for (int s = 0; s < 2; ++s) {
    auto xs = static_shape(g, a.inputs[s]);
    auto rs = static_shape(g, a.inputs[1 - s]);
    if (xs && rs && *xs == *out && fused::is_repeating_suffix(*rs, *out))
      return std::make_pair(a.inputs[s], a.inputs[1 - s]);
  }
  return std::nullopt;
}

bool last_axis(const Graph& g, const Node& ln) {
  const int64_t rank = fuse::rank_of(g, ln.inputs[0]);
  auto p = layer_norm_params(ln.attrs);
  if (!p.ok() || rank <= 0) return false;
  auto axis = layer_norm_axis(*p, rank);
  return axis.ok() && *axis == rank - 1;
}

// Scale / B hold exactly `cols` values.
bool per_column(const Graph& g, const std::string& v, int64_t cols) {
  auto s = static_shape(g, v);
  if (!s) return false;
  int64_t n = 1;
  for (int64_t d : *s) n *= d;
  return n == cols;
}

// Rewrites LayerNormalization node `li` when it matches; true when the graph changed.
bool fuse_one(Graph& g, const GraphIndex& idx, size_t li) {
  const Node& ln = g.nodes[li];
  if (ln.op != OpKind::kLayerNormalization || ln.inputs.size() < 2 || !ln.has_output(0) || !last_axis(g, ln))
    return false;
  for (size_t o = 1; o < ln.outputs.size(); ++o)  // Mean / InvStdDev must be unused
    if (ln.has_output(o) && (!idx.consumer_nodes(ln.outputs[o]).empty() || idx.is_output(ln.outputs[o]))) return false;
  auto xs = static_shape(g, ln.inputs[0]);
  if (!xs || xs->empty()) return false;
  const int64_t cols = xs->back();
  if (!per_column(g, ln.inputs[1], cols) || (ln.has_input(2) && !per_column(g, ln.inputs[2], cols))) return false;
  auto ai = idx.producer_index(ln.inputs[0]);
  if (!ai || !idx.only_read_by(ln.inputs[0], li)) return false;
  auto split = split_add(g, g.nodes[*ai]);
  if (!split) return false;
  auto [x, r] = *split;
  // x + c1 + c2 with constants: R = c1 + c2 (an Add of two constants, folded later), X = the inner full operand.
  std::optional<size_t> inner;
  std::string c1;
  if (constant_value(g, r)) {
    auto ii = idx.producer_index(x);
    if (ii && idx.only_read_by(x, *ai)) {
      auto s2 = split_add(g, g.nodes[*ii]);
      if (s2 && constant_value(g, s2->second)) {
        inner = ii;
        c1 = s2->second;
        x = s2->first;
      }
    }
  }
  const TypeInfo* xt = g.type_of(x);
  const TypeInfo* rt = g.type_of(r);
  if (!xt || !rt || xt->dtype != rt->dtype || !is_float(xt->dtype)) return false;
  if (inner) {
    const TypeInfo* ct = g.type_of(c1);
    if (!ct || ct->dtype != rt->dtype) return false;
  }

  Node fused = fuse::fused_node(ln, OpKind::kFusedAddLayerNorm, {}, {ln.outputs[0]}, 1);
  fused.attrs.set("axis", int64_t{-1});
  fused.attrs.set("epsilon", layer_norm_params(ln.attrs)->epsilon);  // parsed by last_axis() above
  std::string r_in = r;
  std::vector<Node> before;
  if (inner) {
    r_in = g.fresh_name(ln.name + "_addend");
    before.push_back(make_node(g, OpKind::kAdd, ln.name + "_addends", {c1, r}, {r_in}, &g.nodes[*ai]));
  }
  fused.inputs = {x, r_in, ln.inputs[1]};
  if (ln.has_input(2)) fused.inputs.push_back(ln.inputs[2]);
  g.nodes[li] = std::move(fused);
  for (Node& n : before) insert_node(g, li, std::move(n));
  std::set<size_t> dead = {*ai};
  if (inner) dead.insert(*inner);
  remove_nodes(g, dead);
  return true;
}

class FuseAddLayerNorm : public Pass {
 public:
  std::string name() const override { return "fuse_add_layer_norm"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    for (bool again = true; again;) {  // one rewrite per sweep: node indices move
      again = false;
      GraphIndex idx(g);
      for (size_t i = 0; i < g.nodes.size() && !again; ++i) again = fuse_one(g, idx, i);
      if (again) {
        KILN_RETURN_IF_ERROR(reinfer_types(g));
        changed = true;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_add_layer_norm_pass() { return std::make_unique<FuseAddLayerNorm>(); }

}  // namespace kiln
