// simplify_transpose_reshape: composes Transpose chains, collapses reshape-like chains into one Reshape with a
// constant shape, and turns Transposes that only move size-1 dims into Reshapes.
#include <memory>
#include <set>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

bool is_reshape_like(OpKind op) {
  return op == OpKind::kReshape || op == OpKind::kFlatten || op == OpKind::kSqueeze || op == OpKind::kUnsqueeze;
}

// The perm of a Transpose node; the default (reversed axes) needs the input rank.
std::optional<std::vector<int64_t>> perm_of(const Graph& g, const Node& n) {
  if (n.attrs.has("perm")) return n.attrs.get_ints("perm");
  const TypeInfo* t = n.has_input(0) ? g.type_of(n.inputs[0]) : nullptr;
  if (!t || !t->is_tensor() || !t->shape.rank_known) return std::nullopt;
  std::vector<int64_t> p(t->shape.rank());
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<int64_t>(p.size() - 1 - i);
  return p;
}

bool valid_perm(const std::vector<int64_t>& p) {
  std::vector<bool> seen(p.size(), false);
  for (int64_t a : p) {
    if (a < 0 || a >= static_cast<int64_t>(p.size()) || seen[static_cast<size_t>(a)]) return false;
    seen[static_cast<size_t>(a)] = true;
  }
  return true;
}

bool is_identity_perm(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Turns node k into Reshape(data, const shape) producing its own output (name and type unchanged).
void make_static_reshape(Graph& g, size_t k, std::string data, const std::vector<int64_t>& dims) {
  std::string shape =
      g.add_constant(g.nodes[k].name + "_shape",
                     Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(dims.size())}, dims));
  Node& m = g.nodes[k];
  m.op = OpKind::kReshape;
  m.inputs = {std::move(data), shape};
  m.outputs.resize(1);
  m.attrs = Attrs();
  // Reshape means the same from opset 5 on; opset 14 adds allowzero, needed when a target dim is 0 (else "copy").
  if (m.opset < 14) m.opset = 14;
  for (int64_t d : dims)
    if (d == 0) m.attrs.set("allowzero", int64_t{1});
}

class SimplifyTransposeReshape : public Pass {
 public:
  std::string name() const override { return "simplify_transpose_reshape"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    std::set<size_t> dead;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      if (dead.count(k)) continue;
      if (g.nodes[k].op == OpKind::kTranspose) {
        changed |= simplify_transpose(g, k, dead);
      } else if (is_reshape_like(g.nodes[k].op)) {
        changed |= collapse_reshape_chain(g, k, dead);
      }
    }
    remove_nodes(g, dead);
    return changed;
  }

 private:
  static bool simplify_transpose(Graph& g, size_t k, std::set<size_t>& dead) {
    Node& n = g.nodes[k];
    if (!n.has_input(0) || !n.has_output(0)) return false;
    auto perm = perm_of(g, n);
    if (!perm || !valid_perm(*perm)) return false;
    std::optional<size_t> p = producer_index(g, n.inputs[0]);
    if (p && g.nodes[*p].op == OpKind::kTranspose && g.nodes[*p].has_input(0)) {
      auto inner = perm_of(g, g.nodes[*p]);
      if (inner && valid_perm(*inner) && inner->size() == perm->size()) {
        // y = T2(T1(x)): y[i] is axis inner[perm[i]] of x.
        std::vector<int64_t> composed(perm->size());
        for (size_t i = 0; i < perm->size(); ++i) composed[i] = (*inner)[static_cast<size_t>((*perm)[i])];
        const std::string x = g.nodes[*p].inputs[0];
        if (is_identity_perm(composed)) {
          if (replace_value_keep_output(g, g.nodes[k].outputs[0], x)) {
            dead.insert(k);
            return true;
          }
          return false;
        }
        Node& m = g.nodes[k];
        m.inputs[0] = x;
        m.attrs.set("perm", composed);
        perm = composed;  // the first Transpose is left for eliminate_dead_code if nobody else reads it
        moves_only_unit_dims(g, k, *perm);
        return true;
      }
    }
    return moves_only_unit_dims(g, k, *perm);
  }

  // A Transpose that keeps the relative order of the dims larger than 1 does not move data: a Reshape.
  static bool moves_only_unit_dims(Graph& g, size_t k, const std::vector<int64_t>& perm) {
    const Node& n = g.nodes[k];
    // A Transpose feeding another Transpose is better composed with it (possibly cancelling): leave it.
    for (const Use& u : consumers(g, n.outputs[0]))
      if (u.input != kSubgraphUse && g.nodes[u.node].op == OpKind::kTranspose) return false;
    auto in_dims = static_shape(g, n.inputs[0]);
    auto out_dims = static_shape(g, n.outputs[0]);
    if (!in_dims || !out_dims || in_dims->size() != perm.size()) return false;
    int64_t last = -1;
    for (int64_t a : perm) {
      if ((*in_dims)[static_cast<size_t>(a)] == 1) continue;
      if (a < last) return false;
      last = a;
    }
    make_static_reshape(g, k, n.inputs[0], *out_dims);
    return true;
  }

  // Reshape-like node k reading another reshape-like node's output: one Reshape of the first one's input, when the
  // final shape is static. The inner node is left for eliminate_dead_code if nobody else reads it.
  static bool collapse_reshape_chain(Graph& g, size_t k, std::set<size_t>& dead) {
    const Node& n = g.nodes[k];
    if (!n.has_input(0) || !n.has_output(0)) return false;
    auto out_dims = static_shape(g, n.outputs[0]);
    if (!out_dims) return false;
    std::string src = n.inputs[0];
    bool through_chain = false;
    for (;;) {
      std::optional<size_t> p = producer_index(g, src);
      if (!p || !is_reshape_like(g.nodes[*p].op) || !g.nodes[*p].has_input(0)) break;
      src = g.nodes[*p].inputs[0];
      through_chain = true;
    }
    if (!through_chain) return false;
    if (static_shape(g, src) == out_dims) {  // the chain undoes itself
      if (!replace_value_keep_output(g, g.nodes[k].outputs[0], src)) return false;
      dead.insert(k);
      return true;
    }
    make_static_reshape(g, k, src, *out_dims);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_simplify_transpose_reshape_pass() { return std::make_unique<SimplifyTransposeReshape>(); }

}  // namespace kiln
