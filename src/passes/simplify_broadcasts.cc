// simplify_broadcasts: removes materialized broadcasts that exporters put into attention-mask chains (and
// elsewhere), so that masks stay [B, 1, 1, S] instead of [B, 1, S, S]:
//   1. Gather(data, indices) on axis 0 whose constant indices are 0, 1, ..., N-1 with N = data's dim 0
//      -> Reshape(data, indices' shape ++ data's other dims) (a copy-free view).
//   2. And(x, all-true constant) / Or(x, all-false constant) -> x, or Expand(x, output shape) when the constant
//      widens x by broadcasting.
//   3. An Expand read only by a Cast, or as the condition of a Where whose two branches are single-element
//      constants, moves below that node: Cast(Expand(x)) -> Expand(Cast(x)); the smaller tensor is converted.
//   4. An Expand read by ops that broadcast anyway (Add, Sub, Mul, Div, And, Or, Where, Attention's mask) is
//      bypassed when the reader's output shape stays the same without it (Attention: only when the Expand keeps
//      the mask's last axis, which the op pads with -inf rather than broadcasts).
// All rewrites are exact; shapes must be static where they are compared.
#include <memory>
#include <set>

#include "ir/infer_helpers.h"
#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

std::optional<Shape> static_shape_of(const Graph& g, const std::string& v) {
  auto s = static_shape(g, v);
  if (!s) return std::nullopt;
  return Shape::of(*s);
}

// Both shapes fully known and equal.
bool same_known_dims(const Shape& a, const Shape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return false;
  for (int64_t i = 0; i < a.rank(); ++i)
    if (!a.dims[i].is_known() || !b.dims[i].is_known() || a.dims[i].value != b.dims[i].value) return false;
  return true;
}

Tensor int64_vector(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

// Every element of a bool constant equals `want`.
bool bool_constant_all(const Graph& g, const std::string& v, bool want) {
  const Tensor* t = constant_value(g, v);
  if (!t || t->dtype() != DType::kBool) return false;
  const uint8_t* p = t->data<uint8_t>();
  for (int64_t i = 0; i < t->numel(); ++i)
    if ((p[i] != 0) != want) return false;
  return true;
}

// Rule 1: the full arange Gather on axis 0 as a Reshape.
bool gather_to_reshape(Graph& g, size_t k) {
  Node& n = g.nodes[k];
  if (n.op != OpKind::kGather || n.inputs.size() != 2 || !n.has_output(0)) return false;
  auto data = static_shape(g, n.inputs[0]);
  if (!data || data->empty()) return false;
  int64_t axis = n.attrs.get_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(data->size());
  if (axis != 0) return false;
  const Tensor* idx = constant_value(g, n.inputs[1]);
  auto values = int_constant(g, n.inputs[1]);
  if (!idx || !values || static_cast<int64_t>(values->size()) != (*data)[0]) return false;
  for (size_t i = 0; i < values->size(); ++i)
    if ((*values)[i] != static_cast<int64_t>(i)) return false;
  std::vector<int64_t> shape(idx->dims().begin(), idx->dims().end());
  shape.insert(shape.end(), data->begin() + 1, data->end());
  const std::string shape_name = g.add_constant(n.name + "_shape", int64_vector(shape));
  n.op = OpKind::kReshape;
  n.attrs = Attrs{};
  n.inputs[1] = shape_name;
  return true;
}

// Rule 2: And/Or with the neutral constant.
bool neutral_logic(Graph& g, size_t k) {
  const Node& n = g.nodes[k];
  if ((n.op != OpKind::kAnd && n.op != OpKind::kOr) || n.inputs.size() != 2 || !n.has_output(0)) return false;
  const bool neutral = n.op == OpKind::kAnd;
  int side = -1;
  for (int s = 0; s < 2 && side < 0; ++s)
    if (bool_constant_all(g, n.inputs[s], neutral)) side = 1 - s;
  if (side < 0) return false;
  auto out = static_shape(g, n.outputs[0]);
  auto in = static_shape(g, n.inputs[side]);
  if (!out || !in) return false;
  const std::string x = n.inputs[side], y = n.outputs[0];
  if (*in == *out) {
    if (!replace_value_keep_output(g, y, x)) return false;
    remove_nodes(g, {k});
    return true;
  }
  Node e = make_node(g, OpKind::kExpand, n.name + "_expand", {x, g.add_constant(n.name + "_shape", int64_vector(*out))},
                     {y}, &n);
  g.nodes[k] = std::move(e);
  return true;
}

// The Expand producing input `j` of node k when that Expand's output is read by node k only.
const Node* sole_expand_input(const Graph& g, const std::map<std::string, std::vector<Use>>& uses,
                              const std::map<std::string, size_t>& producers, size_t k, size_t j) {
  const Node& n = g.nodes[k];
  if (!n.has_input(j)) return nullptr;
  auto p = producers.find(n.inputs[j]);
  if (p == producers.end()) return nullptr;
  const Node& e = g.nodes[p->second];
  if (e.op != OpKind::kExpand || is_graph_output(g, e.outputs[0])) return nullptr;
  auto u = uses.find(e.outputs[0]);
  if (u == uses.end()) return nullptr;
  for (const Use& use : u->second)
    if (use.node != k) return nullptr;
  return &e;
}

// Rule 3: node k (a Cast, or a Where with scalar constant branches) reads Expand(x, s) as input 0; it then reads x
// and its result is expanded to s.
bool sink_expand(Graph& g, size_t k, const std::map<std::string, std::vector<Use>>& uses,
                 const std::map<std::string, size_t>& producers) {
  const Node& n = g.nodes[k];
  if (n.op == OpKind::kWhere) {
    for (size_t j : {size_t{1}, size_t{2}}) {
      const Tensor* c = n.has_input(j) ? constant_value(g, n.inputs[j]) : nullptr;
      if (!c || c->numel() != 1) return false;
    }
  } else if (n.op != OpKind::kCast) {
    return false;
  }
  const Node* e = sole_expand_input(g, uses, producers, k, 0);
  if (!e || !n.has_output(0)) return false;
  auto x_shape = static_shape(g, e->inputs[0]);
  if (!x_shape || x_shape->empty()) return false;  // keep the rank: Where's scalar branches must not widen it
  const std::string x = e->inputs[0], s = e->inputs[1], y = n.outputs[0];
  const size_t expand_index = producers.at(n.inputs[0]);
  Node moved = n;
  moved.inputs[0] = x;
  moved.outputs[0] = g.fresh_name(y + "_unexpanded");
  Node expand = make_node(g, OpKind::kExpand, n.name + "_expand", {moved.outputs[0], s}, {y}, e);
  g.nodes[k] = std::move(expand);
  insert_node(g, k, std::move(moved));
  remove_nodes(g, {expand_index});
  return true;
}

// Rule 4: bypass Expand inputs of broadcasting readers whose output shape does not depend on them.
bool bypass_expand(Graph& g, size_t k, const std::map<std::string, size_t>& producers) {
  Node& n = g.nodes[k];
  std::vector<size_t> slots;
  switch (n.op) {
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kAnd:
    case OpKind::kOr:
      slots = {0, 1};
      break;
    case OpKind::kWhere:
      slots = {0, 1, 2};
      break;
    case OpKind::kAttention:
      slots = {3};  // attn_mask: broadcast to [batch, heads, q, kv] by the op itself
      break;
    default:
      return false;
  }
  if (!n.has_output(0)) return false;
  auto out = static_shape_of(g, n.outputs[0]);
  if (!out) return false;
  for (size_t j : slots) {
    if (!n.has_input(j)) continue;
    auto p = producers.find(n.inputs[j]);
    if (p == producers.end() || g.nodes[p->second].op != OpKind::kExpand) continue;
    const std::string x = g.nodes[p->second].inputs[0];
    auto xs = static_shape_of(g, x);
    if (!xs) continue;
    if (n.op == OpKind::kAttention) {
      // The op broadcasts the mask's leading axes, but reads a last (key) axis shorter than the key length as
      // padded with -inf (Attention-23), not as broadcast: an Expand that widens the last axis must stay.
      auto es = static_shape(g, n.inputs[j]);
      if (!es || es->empty() || xs->rank() > static_cast<int64_t>(es->size())) continue;
      if (xs->rank() == 0 || !xs->dims.back().is_known() || xs->dims.back().value != es->back()) continue;
      n.inputs[j] = x;
      return true;
    }
    // The reader's broadcast over its inputs with x in place of the Expand must give the same shape.
    Shape b = Shape::of({});
    bool ok = true;
    for (size_t i : slots) {
      if (!n.has_input(i)) continue;
      auto s = i == j ? xs : static_shape_of(g, n.inputs[i]);
      Shape next;
      if (!s || !broadcast_shapes(b, *s, &next).ok()) {
        ok = false;
        break;
      }
      b = next;
    }
    if (!ok || !same_known_dims(b, *out)) continue;
    n.inputs[j] = x;
    return true;
  }
  return false;
}

class SimplifyBroadcasts : public Pass {
 public:
  std::string name() const override { return "simplify_broadcasts"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    for (bool again = true; again;) {  // one rewrite at a time: each one renames or moves values
      again = false;
      auto uses = build_use_map(g);
      auto producers = build_producer_map(g);
      for (size_t k = 0; k < g.nodes.size() && !again; ++k)
        again = gather_to_reshape(g, k) || neutral_logic(g, k) || sink_expand(g, k, uses, producers) ||
                bypass_expand(g, k, producers);
      if (again) {
        KILN_RETURN_IF_ERROR(reinfer_types(g));
        changed = true;
      }
    }
    if (changed) remove_unused_initializers(g);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_simplify_broadcasts_pass() { return std::make_unique<SimplifyBroadcasts>(); }

}  // namespace kiln
