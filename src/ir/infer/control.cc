// Shape and type inference for the control family: If, Loop, Scan and SequenceMap (subgraph ops).
#include <string>
#include <vector>

#include "ir/infer/control_types.h"

namespace kiln {

using control::element_type;
using control::join_types;

Status infer_sequence_construct(InferContext& ctx);
Status infer_sequence_empty(InferContext& ctx);
Status infer_sequence_at(InferContext& ctx);
Status infer_sequence_erase(InferContext& ctx);
Status infer_sequence_insert(InferContext& ctx);
Status infer_sequence_length(InferContext& ctx);
Status infer_split_to_sequence(InferContext& ctx);
Status infer_concat_from_sequence(InferContext& ctx);
Status infer_optional(InferContext& ctx);
Status infer_optional_get_element(InferContext& ctx);
Status infer_optional_has_element(InferContext& ctx);
Status infer_string_concat(InferContext& ctx);
Status infer_string_normalizer(InferContext& ctx);
Status infer_string_split(InferContext& ctx);
Status infer_regex_full_match(InferContext& ctx);
Status infer_tfidf_vectorizer(InferContext& ctx);
Status infer_random_normal(InferContext& ctx);
Status infer_random_like(InferContext& ctx);
Status infer_bernoulli(InferContext& ctx);
Status infer_multinomial(InferContext& ctx);
Status infer_image_decoder(InferContext& ctx);

namespace control {

TypeInfo join_types(const TypeInfo& a, const TypeInfo& b) {
  if (!a.known()) return b;
  if (!b.known()) return a;
  if (a.kind != b.kind) return TypeInfo{};
  if (a.kind == ValueKind::kSequence || a.kind == ValueKind::kOptional) {
    TypeInfo e = join_types(element_type(a), element_type(b));
    return a.kind == ValueKind::kSequence ? TypeInfo::sequence_of(e) : TypeInfo::optional_of(e);
  }
  TypeInfo t = a;
  if (t.dtype == DType::kUndefined) t.dtype = b.dtype;
  else if (b.dtype != DType::kUndefined && b.dtype != t.dtype) t.dtype = DType::kUndefined;
  if (!a.shape.rank_known || !b.shape.rank_known || a.shape.rank() != b.shape.rank()) {
    t.shape = Shape::unknown_rank();
  } else {
    for (size_t i = 0; i < t.shape.rank(); ++i)
      if (!(a.shape.dims[i] == b.shape.dims[i])) t.shape.dims[i] = Dim{};
  }
  return t;
}

TypeInfo element_type(const TypeInfo& t) {
  if ((t.kind == ValueKind::kSequence || t.kind == ValueKind::kOptional) && t.elem) return *t.elem;
  return TypeInfo{};
}

}  // namespace control

namespace {

TypeInfo scalar_of(DType dt) { return TypeInfo::tensor(dt, Shape::of({})); }

// `t` with dimension `axis` removed (unknown rank stays unknown).
TypeInfo drop_axis(const TypeInfo& t, int64_t axis) {
  TypeInfo r = t;
  if (t.is_tensor() && t.shape.rank_known && axis >= 0 && axis < static_cast<int64_t>(t.shape.rank()))
    r.shape.dims.erase(r.shape.dims.begin() + axis);
  return r;
}

// `t` with `d` inserted at `axis` (negative axes count from the end of the result); unknown rank stays unknown.
TypeInfo insert_axis(const TypeInfo& t, int64_t axis, Dim d) {
  TypeInfo r = TypeInfo::tensor(t.dtype, t.shape);
  if (!t.shape.rank_known) return r;
  int64_t a = 0;
  if (!normalize_axis(axis, static_cast<int64_t>(t.shape.rank()) + 1, &a)) {
    r.shape = Shape::unknown_rank();
    return r;
  }
  r.shape.dims.insert(r.shape.dims.begin() + a, d);
  return r;
}

Status infer_if(InferContext& ctx) {
  GraphPtr then_g = ctx.attrs().get_graph("then_branch");
  GraphPtr else_g = ctx.attrs().get_graph("else_branch");
  if (!then_g || !else_g) return ctx.error("attributes 'then_branch' and 'else_branch' are required");
  const TypeInfo& cond = ctx.input_type(0);
  if (cond.is_tensor() && cond.dtype != DType::kUndefined && cond.dtype != DType::kBool)
    return ctx.error(std::string("input 0 'cond' must be bool, got ") + dtype_name(cond.dtype));
  KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*then_g, {}));
  KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*else_g, {}));
  if (then_g->outputs.size() != ctx.num_outputs() || else_g->outputs.size() != ctx.num_outputs())
    return ctx.error("the branches have " + std::to_string(then_g->outputs.size()) + " and " +
                     std::to_string(else_g->outputs.size()) + " outputs but the node has " +
                     std::to_string(ctx.num_outputs()));
  for (size_t i = 0; i < ctx.num_outputs(); ++i)
    ctx.set_output_type(i, join_types(then_g->outputs[i].type, else_g->outputs[i].type));
  return ok_status();
}

Status infer_loop(InferContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is required");
  const size_t n = ctx.num_inputs() >= 2 ? ctx.num_inputs() - 2 : 0;
  if (body->inputs.size() != n + 2)
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(n + 2));
  std::vector<TypeInfo> in = {scalar_of(DType::kInt64), scalar_of(DType::kBool)};
  for (size_t k = 0; k < n; ++k) in.push_back(ctx.input_type(k + 2));
  KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*body, in));
  if (body->outputs.size() < n + 1)
    return ctx.error("the body has " + std::to_string(body->outputs.size()) + " outputs, expected at least " +
                     std::to_string(n + 1));
  // Loop-carried values may change shape between iterations: widen the body inputs and infer again.
  bool widened = false;
  for (size_t k = 0; k < n; ++k) {
    TypeInfo& bin = body->inputs[k + 2].type;
    const TypeInfo& bout = body->outputs[k + 1].type;
    if (bin.kind != bout.kind || !bin.is_tensor()) continue;
    TypeInfo j = join_types(bin, bout);
    if (j.to_string() != bin.to_string()) {
      bin = j;
      widened = true;
    }
  }
  if (widened) KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*body, {}));
  if (body->outputs.size() < n + 1)
    return ctx.error("the body has " + std::to_string(body->outputs.size()) + " outputs, expected at least " +
                     std::to_string(n + 1));
  const size_t k_out = body->outputs.size() - 1 - n;
  if (ctx.num_outputs() > n + k_out) return ctx.error("the node has more outputs than the body produces");
  // Trip count is known only when M is a constant and there is no loop condition input.
  Dim trips;
  std::vector<int64_t> m;
  if (!ctx.has_input(1) && ctx.has_input(0) && constant_ints(ctx, 0, &m) && m.size() == 1 && m[0] >= 0)
    trips = Dim::known(m[0]);
  for (size_t k = 0; k < n && k < ctx.num_outputs(); ++k) {
    const TypeInfo& out = body->outputs[1 + k].type;
    const TypeInfo& init = ctx.input_type(k + 2);
    // A value that keeps its kind across iterations may still change shape: join with the initial type.
    ctx.set_output_type(k, init.kind == out.kind ? join_types(init, out) : out);
  }
  for (size_t s = 0; s < k_out && n + s < ctx.num_outputs(); ++s)
    ctx.set_output_type(n + s, insert_axis(body->outputs[1 + n + s].type, 0, trips));
  return ok_status();
}

Status infer_scan(InferContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is required");
  const int64_t m = ctx.attrs().get_int("num_scan_inputs", -1);
  if (m < 1) return ctx.error("attribute 'num_scan_inputs' must be >= 1");
  const bool batched = ctx.opset() > 0 && ctx.opset() < 9;  // Scan-8: (sequence_lens, states..., scans...)
  const size_t first = batched ? 1 : 0;
  if (ctx.num_inputs() < first + m) return ctx.error("too few inputs for num_scan_inputs");
  const size_t n = ctx.num_inputs() - first - m;
  std::vector<TypeInfo> in;
  Dim batch, length;
  std::vector<int64_t> in_axes = ctx.attrs().get_ints("scan_input_axes");
  for (size_t i = 0; i < n; ++i) {
    const TypeInfo& t = ctx.input_type(first + i);
    in.push_back(batched ? drop_axis(t, 0) : t);
  }
  for (size_t j = 0; j < static_cast<size_t>(m); ++j) {
    TypeInfo t = ctx.input_type(first + n + j);
    if (batched) {
      if (t.shape.rank_known && t.shape.rank() >= 2) {
        batch = t.shape.dims[0];
        length = t.shape.dims[1];
      }
      in.push_back(drop_axis(drop_axis(t, 0), 0));
      continue;
    }
    int64_t axis = j < in_axes.size() ? in_axes[j] : 0;
    if (t.shape.rank_known) {
      int64_t a = 0;
      if (!normalize_axis(axis, static_cast<int64_t>(t.shape.rank()), &a))
        return ctx.error("scan_input_axes[" + std::to_string(j) + "] = " + std::to_string(axis) +
                         " is out of range for input " + t.to_string());
      if (j == 0) length = t.shape.dims[a];
      in.push_back(drop_axis(t, a));
    } else {
      in.push_back(TypeInfo::tensor_unknown_shape(t.dtype));
    }
  }
  if (body->inputs.size() != n + m)
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(n + m));
  KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*body, in));
  if (body->outputs.size() < n) return ctx.error("the body has fewer outputs than loop-carried states");
  const size_t k_out = body->outputs.size() - n;
  std::vector<int64_t> out_axes = ctx.attrs().get_ints("scan_output_axes");
  for (size_t i = 0; i < n && i < ctx.num_outputs(); ++i) {
    const TypeInfo& t = body->outputs[i].type;
    ctx.set_output_type(i, batched ? insert_axis(t, 0, batch) : t);
  }
  for (size_t k = 0; k < k_out && n + k < ctx.num_outputs(); ++k) {
    const TypeInfo& t = body->outputs[n + k].type;
    if (batched) {
      ctx.set_output_type(n + k, insert_axis(insert_axis(t, 0, length), 0, batch));
    } else {
      int64_t axis = k < out_axes.size() ? out_axes[k] : 0;
      ctx.set_output_type(n + k, insert_axis(t, axis, length));
    }
  }
  return ok_status();
}

Status infer_sequence_map(InferContext& ctx) {
  GraphPtr body = ctx.attrs().get_graph("body");
  if (!body) return ctx.error("attribute 'body' is required");
  const TypeInfo& seq = ctx.input_type(0);
  if (seq.known() && seq.kind != ValueKind::kSequence) return ctx.error("input 0 must be a sequence, got " + seq.to_string());
  std::vector<TypeInfo> in;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    in.push_back(t.kind == ValueKind::kSequence ? element_type(t) : t);
  }
  if (body->inputs.size() != ctx.num_inputs())
    return ctx.error("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " +
                     std::to_string(ctx.num_inputs()));
  KILN_RETURN_IF_ERROR(ctx.infer_subgraph(*body, in));
  if (body->outputs.size() != ctx.num_outputs())
    return ctx.error("the body has " + std::to_string(body->outputs.size()) + " outputs, expected " +
                     std::to_string(ctx.num_outputs()));
  for (size_t k = 0; k < ctx.num_outputs(); ++k) ctx.set_output_type(k, TypeInfo::sequence_of(body->outputs[k].type));
  return ok_status();
}

}  // namespace

void register_control_infer(InferRegistry& r) {
  r.add(OpKind::kIf, infer_if);
  r.add(OpKind::kLoop, infer_loop);
  r.add(OpKind::kScan, infer_scan);
  r.add(OpKind::kSequenceMap, infer_sequence_map);
  r.add(OpKind::kSequenceConstruct, infer_sequence_construct);
  r.add(OpKind::kSequenceEmpty, infer_sequence_empty);
  r.add(OpKind::kSequenceAt, infer_sequence_at);
  r.add(OpKind::kSequenceErase, infer_sequence_erase);
  r.add(OpKind::kSequenceInsert, infer_sequence_insert);
  r.add(OpKind::kSequenceLength, infer_sequence_length);
  r.add(OpKind::kSplitToSequence, infer_split_to_sequence);
  r.add(OpKind::kConcatFromSequence, infer_concat_from_sequence);
  r.add(OpKind::kOptional, infer_optional);
  r.add(OpKind::kOptionalGetElement, infer_optional_get_element);
  r.add(OpKind::kOptionalHasElement, infer_optional_has_element);
  r.add(OpKind::kStringConcat, infer_string_concat);
  r.add(OpKind::kStringNormalizer, infer_string_normalizer);
  r.add(OpKind::kStringSplit, infer_string_split);
  r.add(OpKind::kRegexFullMatch, infer_regex_full_match);
  r.add(OpKind::kTfIdfVectorizer, infer_tfidf_vectorizer);
  r.add(OpKind::kRandomNormal, infer_random_normal);
  r.add(OpKind::kRandomUniform, infer_random_normal);
  r.add(OpKind::kRandomNormalLike, infer_random_like);
  r.add(OpKind::kRandomUniformLike, infer_random_like);
  r.add(OpKind::kBernoulli, infer_bernoulli);
  r.add(OpKind::kMultinomial, infer_multinomial);
  r.add(OpKind::kImageDecoder, infer_image_decoder);
}

}  // namespace kiln
