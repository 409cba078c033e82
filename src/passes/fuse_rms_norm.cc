// fuse_rms_norm: the decomposed RMS norm over the last axis becomes ONNX RMSNormalization(axis=-1):
//   r = Sqrt(ReduceMean(x^2) + eps) ; y = x * Reciprocal(r) | x / r | x * (1 / r) ; [y * gamma]
// gamma must be a constant broadcasting along the last axis only; without gamma a ones scale is added.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

struct Match {
  std::string x;
  double eps = 0;
  std::vector<size_t> nodes;  // the last one produces the result
  std::string gamma, unused_beta;
};

// x * inv where inv is Reciprocal(s) or Div(1, s), or x / s directly: the node producing the normalized x.
std::optional<size_t> match_divide(const Graph& g, const GraphIndex& idx, const std::string& x, size_t sqrt_i,
                                   std::vector<size_t>* nodes) {
  const std::string& s = g.nodes[sqrt_i].outputs[0];
  auto c = idx.sole_consumer(s);
  if (!c) return std::nullopt;
  const Node& n = g.nodes[*c];
  if (n.op == OpKind::kDiv && n.inputs.size() == 2 && n.inputs[1] == s) {
    if (n.inputs[0] == x) {
      nodes->push_back(*c);
      return *c;
    }
    if (!fuse::is_scalar_near(g, n.inputs[0], 1.0, 1e-6)) return std::nullopt;
  } else if (n.op != OpKind::kReciprocal) {
    return std::nullopt;
  }
  const std::string& inv = n.outputs[0];
  auto m = idx.sole_consumer(inv);
  if (!m || g.nodes[*m].op != OpKind::kMul || fuse::other_input(g.nodes[*m], inv) != x) return std::nullopt;
  nodes->insert(nodes->end(), {*c, *m});
  return *m;
}

// Pattern rooted at the square node `pi` (Pow(x, 2) or Mul(x, x)).
bool match(const Graph& g, const GraphIndex& idx, size_t pi, Match* m) {
  const Node& sq = g.nodes[pi];
  if (sq.inputs.size() != 2 || !fuse::is_square_of(g, sq, sq.inputs[0])) return false;
  const std::string& x = sq.inputs[0];
  auto ri = idx.sole_consumer(sq.outputs[0]);
  if (!ri || g.nodes[*ri].op != OpKind::kReduceMean || !fuse::reduces_last_axis_keepdims(g, g.nodes[*ri])) return false;
  std::vector<size_t> nodes{pi, *ri};
  double eps = 0;
  if (!fuse::match_add_eps_sqrt(g, idx, g.nodes[*ri].outputs[0], &eps, &nodes)) return false;
  auto last = match_divide(g, idx, x, nodes.back(), &nodes);
  if (!last) return false;
  m->x = x;
  m->eps = eps;
  m->nodes = nodes;
  fuse::match_affine(g, idx, *last, /*with_beta=*/false, &m->nodes, &m->gamma, &m->unused_beta);
  return true;
}

class FuseRmsNorm : public Pass {
 public:
  std::string name() const override { return "fuse_rms_norm"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const OpKind op = g.nodes[i].op;
      if (op != OpKind::kPow && op != OpKind::kMul) continue;
      Match m;
      if (!match(g, idx, i, &m) || !fuse::is_float_value(g, m.x) || rw.claimed(m.nodes)) continue;
      std::string scale, no_bias;
      if (!fuse::last_axis_params(g, m.x, m.gamma, "", &scale, &no_bias)) continue;
      const size_t last = m.nodes.back();
      m.nodes.pop_back();
      Node rms =
          fuse::fused_node(g.nodes[last], OpKind::kRMSNormalization, {m.x, scale}, {g.nodes[last].outputs[0]}, 23);
      rms.attrs.set("axis", int64_t{-1});
      rms.attrs.set("epsilon", static_cast<float>(m.eps));
      rw.replace(last, {std::move(rms)}, m.nodes);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_rms_norm_pass() { return std::make_unique<FuseRmsNorm>(); }

}  // namespace kiln
