// fuse_gelu: the decomposed GELU forms exporters write become one ONNX Gelu node:
//   erf:  x * 0.5 * (1 + erf(x / sqrt(2)))                      (Div by 1.4142 or Mul by 0.7071)  -> approximate "none"
//   tanh: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))  (Pow(x, 3) or x*x*x)             -> approximate "tanh"
// The final 0.5 and x factors may come in any grouping: (x * p) * 0.5, (x * 0.5) * p, x * (p * 0.5) with p = 1 +
// erf/tanh.
#include <cmath>

#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

struct Match {
  std::string x;
  std::vector<size_t> nodes;  // every matched node; the last one is the pattern's output
};

// The operand of a Mul/Div node `n` that is scaled: Div(x, 1.4142) or Mul(x, 0.7071) (either order) -> x.
std::optional<std::string> erf_argument(const Graph& g, const Node& n) {
  if (n.inputs.size() != 2) return std::nullopt;
  if (n.op == OpKind::kDiv && fuse::is_scalar_near(g, n.inputs[1], 1.41421356)) return n.inputs[0];
  if (n.op == OpKind::kMul) {
    auto s = fuse::scalar_operand(g, n);
    if (s && std::abs(s->value - 0.70710678) <= 1e-3 * 0.70710678) return s->other;
  }
  return std::nullopt;
}

// x^3 as Pow(x, 3), Mul(Mul(x, x), x) or Mul(x, Mul(x, x)); the inner nodes must only feed the cube.
std::optional<std::string> cube_of(const Graph& g, const GraphIndex& idx, const std::string& v,
                                   std::vector<size_t>* nodes) {
  auto pi = idx.producer_index(v);
  if (!pi) return std::nullopt;
  const Node& n = g.nodes[*pi];
  if (n.op == OpKind::kPow && n.inputs.size() == 2 && fuse::is_scalar_near(g, n.inputs[1], 3.0, 1e-6)) {
    nodes->push_back(*pi);
    return n.inputs[0];
  }
  if (n.op != OpKind::kMul || n.inputs.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const std::string& sq = n.inputs[side];
    const std::string& x = n.inputs[1 - side];
    auto si = idx.producer_index(sq);
    if (!si || g.nodes[*si].op != OpKind::kMul || !idx.only_read_by(sq, *pi)) continue;
    const Node& s = g.nodes[*si];
    if (s.inputs.size() == 2 && s.inputs[0] == x && s.inputs[1] == x) {
      nodes->push_back(*si);
      nodes->push_back(*pi);
      return x;
    }
  }
  return std::nullopt;
}

// From p = 1 + f(x) (the Add node at index `add`): the multiplications by x and 0.5 that finish the GELU.
bool match_tail(const Graph& g, const GraphIndex& idx, const std::string& x, size_t add, Match* m) {
  const std::string& p = g.nodes[add].outputs[0];
  auto m1 = idx.sole_consumer(p);
  if (!m1 || g.nodes[*m1].op != OpKind::kMul) return false;
  auto o1 = fuse::other_input(g.nodes[*m1], p);
  if (!o1) return false;
  const std::string& y1 = g.nodes[*m1].outputs[0];
  if (*o1 == x) {  // (x * p) * 0.5
    auto m2 = idx.sole_consumer(y1);
    if (!m2 || g.nodes[*m2].op != OpKind::kMul) return false;
    auto s = fuse::scalar_operand(g, g.nodes[*m2]);
    if (!s || s->other != y1 || std::abs(s->value - 0.5) > 1e-6) return false;
    m->nodes.insert(m->nodes.end(), {add, *m1, *m2});
    return true;
  }
  if (fuse::is_scalar_near(g, *o1, 0.5, 1e-6)) {  // x * (p * 0.5)
    auto m2 = idx.sole_consumer(y1);
    if (!m2 || g.nodes[*m2].op != OpKind::kMul || fuse::other_input(g.nodes[*m2], y1) != x) return false;
    m->nodes.insert(m->nodes.end(), {add, *m1, *m2});
    return true;
  }
  auto hi = idx.producer_index(*o1);  // (x * 0.5) * p
  if (!hi || g.nodes[*hi].op != OpKind::kMul || !idx.only_read_by(*o1, *m1)) return false;
  auto s = fuse::scalar_operand(g, g.nodes[*hi]);
  if (!s || s->other != x || std::abs(s->value - 0.5) > 1e-6) return false;
  m->nodes.insert(m->nodes.end(), {*hi, add, *m1});
  return true;
}

// The Add(f, 1) consuming `f` (either order), or nullopt.
std::optional<size_t> plus_one(const Graph& g, const GraphIndex& idx, const std::string& f) {
  auto a = idx.sole_consumer(f);
  if (!a || g.nodes[*a].op != OpKind::kAdd) return std::nullopt;
  auto other = fuse::other_input(g.nodes[*a], f);
  if (!other || !fuse::is_scalar_near(g, *other, 1.0, 1e-6)) return std::nullopt;
  return a;
}

// Erf at node `ei`: x / sqrt(2) -> Erf -> + 1 -> tail.
bool match_erf(const Graph& g, const GraphIndex& idx, size_t ei, Match* m) {
  const Node& erf = g.nodes[ei];
  auto si = idx.producer_index(erf.inputs[0]);
  if (!si || !idx.only_read_by(erf.inputs[0], ei)) return false;
  auto x = erf_argument(g, g.nodes[*si]);
  if (!x) return false;
  auto add = plus_one(g, idx, erf.outputs[0]);
  if (!add) return false;
  m->x = *x;
  m->nodes = {*si, ei};
  return match_tail(g, idx, *x, *add, m);
}

// Tanh at node `ti`: sqrt(2/pi) * (x + 0.044715 * x^3) -> Tanh -> + 1 -> tail.
bool match_tanh(const Graph& g, const GraphIndex& idx, size_t ti, Match* m) {
  const Node& th = g.nodes[ti];
  auto ki = idx.producer_index(th.inputs[0]);
  if (!ki || g.nodes[*ki].op != OpKind::kMul || !idx.only_read_by(th.inputs[0], ti)) return false;
  auto k = fuse::scalar_operand(g, g.nodes[*ki]);
  if (!k || std::abs(k->value - 0.7978845608) > 1e-3 * 0.7978845608) return false;
  auto inner_i = idx.producer_index(k->other);
  if (!inner_i || g.nodes[*inner_i].op != OpKind::kAdd || !idx.only_read_by(k->other, *ki)) return false;
  const Node& inner = g.nodes[*inner_i];
  for (int side = 0; side < 2; ++side) {
    const std::string& x = inner.inputs[side];
    const std::string& c = inner.inputs[1 - side];
    auto ci = idx.producer_index(c);
    if (!ci || g.nodes[*ci].op != OpKind::kMul || !idx.only_read_by(c, *inner_i)) continue;
    auto cs = fuse::scalar_operand(g, g.nodes[*ci]);
    if (!cs || std::abs(cs->value - 0.044715) > 1e-3 * 0.044715 || !idx.only_read_by(cs->other, *ci)) continue;
    std::vector<size_t> cube_nodes;
    auto cx = cube_of(g, idx, cs->other, &cube_nodes);
    if (!cx || *cx != x) continue;
    auto add = plus_one(g, idx, th.outputs[0]);
    if (!add) return false;
    m->x = x;
    m->nodes = cube_nodes;
    m->nodes.insert(m->nodes.end(), {*ci, *inner_i, *ki, ti});
    return match_tail(g, idx, x, *add, m);
  }
  return false;
}

class FuseGelu : public Pass {
 public:
  std::string name() const override { return "fuse_gelu"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if ((n.op != OpKind::kErf && n.op != OpKind::kTanh) || n.inputs.size() != 1) continue;
      Match m;
      const bool ok = n.op == OpKind::kErf ? match_erf(g, idx, i, &m) : match_tanh(g, idx, i, &m);
      if (!ok || !fuse::is_float_value(g, m.x) || rw.claimed(m.nodes)) continue;
      const size_t last = m.nodes.back();
      m.nodes.pop_back();
      Node gelu = fuse::fused_node(g.nodes[last], OpKind::kGelu, {m.x}, {g.nodes[last].outputs[0]}, 20);
      gelu.attrs.set("approximate", std::string(n.op == OpKind::kErf ? "none" : "tanh"));
      rw.replace(last, {std::move(gelu)}, m.nodes);
    }
    if (!rw.changed()) return false;
    return rw.commit();
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_gelu_pass() { return std::make_unique<FuseGelu>(); }

}  // namespace kiln
