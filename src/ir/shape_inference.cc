// The inference driver: walks nodes in order, calls each op's InferFn, merges with declared types.
#include "ir/shape_inference.h"

#include "ir/infer_helpers.h"

namespace kiln {

const TypeInfo& InferContext::input_type(size_t i) const {
  static const TypeInfo kUnknown;
  return i < in_types_.size() ? in_types_[i] : kUnknown;
}

void InferContext::set_output_value(size_t i, Tensor t) {
  if (i >= out_values_.size()) return;
  out_types_[i] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  out_values_[i] = std::move(t);
}

Status InferContext::error(const std::string& msg) const {
  return invalid_argument(node_.describe() + ": " + msg);
}

Status InferContext::infer_subgraph(Graph& body, const std::vector<TypeInfo>& input_types) const {
  std::map<std::string, TypeInfo> scope = scope_types_ ? *scope_types_ : std::map<std::string, TypeInfo>{};
  for (size_t i = 0; i < body.inputs.size() && i < input_types.size(); ++i) {
    if (input_types[i].known() && !body.inputs[i].type.known()) body.inputs[i].type = input_types[i];
  }
  return infer_graph_types(body, &scope);
}

namespace {

// Prefer the inferred type where it says more; keep declared facts otherwise.
TypeInfo merge_types(const TypeInfo& declared, const TypeInfo& inferred) {
  if (!inferred.known()) return declared;
  if (!declared.known()) return inferred;
  TypeInfo t = inferred;
  if (t.kind == ValueKind::kTensor && declared.kind == ValueKind::kTensor) {
    if (t.dtype == DType::kUndefined) t.dtype = declared.dtype;
    if (!t.shape.rank_known) t.shape = declared.shape;
    else if (declared.shape.rank_known && declared.shape.rank() == t.shape.rank()) {
      for (size_t i = 0; i < t.shape.rank(); ++i)
        if (!t.shape.dims[i].is_known() && t.shape.dims[i].symbol.empty()) t.shape.dims[i] = declared.shape.dims[i];
    }
  }
  return t;
}

}  // namespace

Status infer_graph_types(Graph& g, const std::map<std::string, TypeInfo>* outer) {
  std::map<std::string, TypeInfo> types = outer ? *outer : std::map<std::string, TypeInfo>{};
  std::map<std::string, Tensor> consts;
  for (const auto& [n, t] : g.initializers) {
    types[n] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
    consts[n] = t;
  }
  for (const auto& vi : g.inputs) {
    if (vi.type.known()) types[vi.name] = vi.type;
    else if (!types.count(vi.name)) types[vi.name] = TypeInfo{};
    if (!g.initializers.count(vi.name)) consts.erase(vi.name);  // a runtime input shadows outer constants
  }
  const InferRegistry& reg = infer_registry();
  for (Node& node : g.nodes) {
    std::vector<TypeInfo> in_types;
    std::vector<const Tensor*> in_values;
    for (const auto& in : node.inputs) {
      auto it = types.find(in);
      in_types.push_back(in.empty() || it == types.end() ? TypeInfo{} : it->second);
      auto c = consts.find(in);
      in_values.push_back(in.empty() || c == consts.end() ? nullptr : &c->second);
    }
    InferContext ctx(node, std::move(in_types), std::move(in_values), &types);
    if (InferFn fn = reg.find(node.op)) {
      Status st = fn(ctx);
      if (!st.ok()) return st;
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i].empty()) continue;
      const TypeInfo* declared = g.type_of(node.outputs[i]);
      TypeInfo t = merge_types(declared ? *declared : TypeInfo{}, ctx.output_types()[i]);
      types[node.outputs[i]] = t;
      if (ctx.output_values()[i].defined()) consts[node.outputs[i]] = ctx.output_values()[i];
    }
  }
  for (auto& vi : g.outputs) {
    auto it = types.find(vi.name);
    if (it != types.end()) vi.type = merge_types(vi.type, it->second);
  }
  // Keep only this graph's own values (not the enclosing scope's) in value_types.
  std::map<std::string, TypeInfo> own;
  for (const auto& [n, t] : g.initializers) own[n] = types[n];
  for (const auto& vi : g.inputs) own[vi.name] = types[vi.name];
  for (const Node& node : g.nodes)
    for (const auto& o : node.outputs)
      if (!o.empty()) own[o] = types[o];
  g.value_types = std::move(own);
  return ok_status();
}

// ---- helpers ----

Status infer_same_as_input(InferContext& ctx, size_t out, size_t in) {
  ctx.set_output_type(out, ctx.input_type(in));
  return ok_status();
}

Status broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  if (!a.rank_known || !b.rank_known) {
    *out = Shape::unknown_rank();
    return ok_status();
  }
  size_t r = std::max(a.rank(), b.rank());
  std::vector<Dim> dims(r);
  for (size_t i = 0; i < r; ++i) {
    const Dim* da = i < r - a.rank() ? nullptr : &a.dims[i - (r - a.rank())];
    const Dim* db = i < r - b.rank() ? nullptr : &b.dims[i - (r - b.rank())];
    if (!da) { dims[i] = *db; continue; }
    if (!db) { dims[i] = *da; continue; }
    if (da->is_known() && da->value == 1) { dims[i] = *db; continue; }
    if (db->is_known() && db->value == 1) { dims[i] = *da; continue; }
    if (da->is_known() && db->is_known()) {
      if (da->value != db->value)
        return invalid_argument("shapes " + a.to_string() + " and " + b.to_string() + " cannot be broadcast");
      dims[i] = *da;
      continue;
    }
    if (da->is_known()) dims[i] = *da;
    else if (db->is_known()) dims[i] = *db;
    else if (*da == *db) dims[i] = *da;
    else dims[i] = Dim{};
  }
  *out = Shape::of_dims(std::move(dims));
  return ok_status();
}

bool normalize_axis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

bool constant_ints(const InferContext& ctx, size_t in, std::vector<int64_t>* out) {
  const Tensor* t = ctx.input_value(in);
  if (!t || !is_integer(t->dtype())) return false;
  out->clear();
  for (int64_t i = 0; i < t->numel(); ++i) out->push_back(t->as_int64(i));
  return true;
}

}  // namespace kiln
