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

const Shape* shape_of(const Graph& g, const std::string& v) {
  const TypeInfo* t = g.type_of(v);
  return t && t->is_tensor() && t->shape.rank_known ? &t->shape : nullptr;
}

// Dims known equal: both known and equal, or both the same named symbol.
bool same_dim(const Dim& a, const Dim& b) {
  return a.is_known() ? b.is_known() && a.value == b.value : !a.symbol.empty() && a.symbol == b.symbol;
}

bool same_shape(const Shape* a, const Shape* b) {
  if (!a || !b || a->rank() != b->rank()) return false;
  for (size_t i = 0; i < a->rank(); ++i)
    if (!same_dim(a->dims[i], b->dims[i])) return false;
  return true;
}

// A constant Reshape target taking `src` to `out`: static dims as they are; an unknown dim either copied from
// the same position of `src` (0, when both carry the same symbol) or inferred (-1, at most one). nullopt when
// no such target exists. *allowzero is set when a static target holds a real 0 dim.
std::optional<std::vector<int64_t>> reshape_target(const Shape* src, const Shape* out, bool* allowzero) {
  *allowzero = false;
  if (!src || !out) return std::nullopt;
  if (out->fully_known()) {
    std::vector<int64_t> d = out->concrete();
    for (int64_t x : d) *allowzero = *allowzero || x == 0;
    return d;
  }
  std::vector<int64_t> d;
  int inferred = 0;
  for (size_t i = 0; i < out->rank(); ++i) {
    const Dim& o = out->dims[i];
    if (o.is_known()) {
      if (o.value == 0) return std::nullopt;  // 0 would mean "copy" without allowzero
      d.push_back(o.value);
    } else if (i < src->rank() && same_dim(src->dims[i], o)) {
      d.push_back(0);
    } else {
      d.push_back(-1);
      ++inferred;
    }
  }
  if (inferred > 1) return std::nullopt;
  return d;
}

// Turns node k into Reshape(data, const shape) producing its own output (name and type unchanged).
void make_static_reshape(Graph& g, size_t k, std::string data, const std::vector<int64_t>& dims, bool allowzero) {
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
  if (allowzero) m.attrs.set("allowzero", int64_t{1});
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
    const Shape* in = shape_of(g, n.inputs[0]);
    const Shape* out = shape_of(g, n.outputs[0]);
    if (!in || !out || in->rank() != perm.size()) return false;
    int64_t last = -1;
    for (int64_t a : perm) {
      const Dim& d = in->dims[static_cast<size_t>(a)];
      if (d.is_known() && d.value == 1) continue;  // unknown dims may be > 1: they must keep their order
      if (a < last) return false;
      last = a;
    }
    bool allowzero = false;
    auto target = reshape_target(in, out, &allowzero);
    if (!target) return false;
    make_static_reshape(g, k, n.inputs[0], *target, allowzero);
    return true;
  }

  // Reshape-like node k reading another reshape-like node's output: one Reshape of the first one's input, when a
  // constant target exists (static, or dynamic dims that line up; see reshape_target). The inner node is left for
  // eliminate_dead_code if nobody else reads it.
  static bool collapse_reshape_chain(Graph& g, size_t k, std::set<size_t>& dead) {
    const Node& n = g.nodes[k];
    if (!n.has_input(0) || !n.has_output(0)) return false;
    const Shape* out = shape_of(g, n.outputs[0]);
    if (!out) return false;
    std::string src = n.inputs[0];
    bool through_chain = false;
    for (;;) {
      std::optional<size_t> p = producer_index(g, src);
      if (!p || !is_reshape_like(g.nodes[*p].op) || !g.nodes[*p].has_input(0)) break;
      src = g.nodes[*p].inputs[0];
      through_chain = true;
    }
    if (!through_chain) return false;
    if (same_shape(shape_of(g, src), out)) {  // the chain undoes itself
      if (!replace_value_keep_output(g, g.nodes[k].outputs[0], src)) return false;
      dead.insert(k);
      return true;
    }
    bool allowzero = false;
    auto target = reshape_target(shape_of(g, src), out, &allowzero);
    if (!target) return false;
    make_static_reshape(g, k, src, *target, allowzero);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_simplify_transpose_reshape_pass() { return std::make_unique<SimplifyTransposeReshape>(); }

}  // namespace kiln
