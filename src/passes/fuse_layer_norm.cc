// fuse_layer_norm: the decomposed layer norm over the last axis becomes ONNX LayerNormalization(axis=-1):
//   m = ReduceMean(x) ; d = x - m ; v = ReduceMean(d^2 | d*d) ; y = d / Sqrt(v + eps) [* gamma] [+ beta]
// gamma and beta must be constants broadcasting along the last axis only; without gamma a ones scale is added.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

struct Match {
  std::string x;
  double eps = 0;
  std::vector<size_t> nodes;  // the last one produces the result
  std::string gamma, beta;    // constant names ("" when absent)
};

// Pattern rooted at the mean's ReduceMean node `ri`.
bool match(const Graph& g, const GraphIndex& idx, size_t ri, Match* m) {
  const Node& r1 = g.nodes[ri];
  if (!fuse::reduces_last_axis_keepdims(g, r1)) return false;
  const std::string& x = r1.inputs[0];
  auto si = idx.sole_consumer(r1.outputs[0]);
  if (!si || g.nodes[*si].op != OpKind::kSub) return false;
  const Node& sub = g.nodes[*si];
  if (sub.inputs.size() != 2 || sub.inputs[0] != x || sub.inputs[1] != r1.outputs[0]) return false;
  const std::string& d = sub.outputs[0];
  // d feeds exactly the square and the final Div.
  std::set<size_t> d_users = idx.consumer_nodes(d);
  if (d_users.size() != 2 || idx.is_output(d)) return false;
  size_t sq = 0, div = 0;
  bool have_sq = false, have_div = false;
  for (size_t u : d_users) {
    const Node& n = g.nodes[u];
    if (n.outputs.empty() || n.outputs[0].empty()) return false;
    if (n.op == OpKind::kDiv && n.inputs.size() == 2 && n.inputs[0] == d && n.inputs[1] != d) {
      div = u;
      have_div = true;
    } else if (fuse::is_square_of(g, n, d)) {
      sq = u;
      have_sq = true;
    }
  }
  if (!have_sq || !have_div) return false;
  auto r2 = idx.sole_consumer(g.nodes[sq].outputs[0]);
  if (!r2 || g.nodes[*r2].op != OpKind::kReduceMean || !fuse::reduces_last_axis_keepdims(g, g.nodes[*r2])) return false;
  std::vector<size_t> tail;
  double eps = 0;
  if (!fuse::match_add_eps_sqrt(g, idx, g.nodes[*r2].outputs[0], &eps, &tail)) return false;
  // tail = {add, sqrt}: the Sqrt must feed the Div as its divisor only.
  const std::string& std_dev = g.nodes[tail.back()].outputs[0];
  if (g.nodes[div].inputs[1] != std_dev || !idx.only_read_by(std_dev, div)) return false;
  m->x = x;
  m->eps = eps;
  m->nodes = {ri, *si, sq, *r2, tail[0], tail[1], div};
  fuse::match_affine(g, idx, div, /*with_beta=*/true, &m->nodes, &m->gamma, &m->beta);
  return true;
}

class FuseLayerNorm : public Pass {
 public:
  std::string name() const override { return "fuse_layer_norm"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op != OpKind::kReduceMean || g.nodes[i].inputs.empty()) continue;
      Match m;
      if (!match(g, idx, i, &m) || !fuse::is_float_value(g, m.x) || rw.claimed(m.nodes)) continue;
      std::string scale, bias;
      if (!fuse::last_axis_params(g, m.x, m.gamma, m.beta, &scale, &bias)) continue;
      const size_t last = m.nodes.back();
      m.nodes.pop_back();
      std::vector<std::string> inputs{m.x, scale};
      if (!bias.empty()) inputs.push_back(bias);
      Node ln = fuse::fused_node(g.nodes[last], OpKind::kLayerNormalization, inputs, {g.nodes[last].outputs[0]}, 17);
      ln.attrs.set("axis", int64_t{-1});
      ln.attrs.set("epsilon", static_cast<float>(m.eps));
      rw.replace(last, {std::move(ln)}, m.nodes);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_layer_norm_pass() { return std::make_unique<FuseLayerNorm>(); }

}  // namespace kiln
