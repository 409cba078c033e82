// Shape and type inference for the sequence and optional ops of the control family.
#include <string>
#include <vector>

#include "ir/infer/control_types.h"

namespace kiln {

using control::element_type;
using control::join_types;

namespace {

Status require_sequence_type(const InferContext& ctx, size_t i, TypeInfo* elem) {
  const TypeInfo& t = ctx.input_type(i);
  if (t.known() && t.kind != ValueKind::kSequence)
    return ctx.error("input " + std::to_string(i) + " must be a sequence, got " + t.to_string());
  *elem = element_type(t);
  return ok_status();
}

bool parse_type_string(const std::string& s, TypeInfo* out) {
  if (s.rfind("seq:", 0) == 0) {
    TypeInfo e;
    if (!parse_type_string(s.substr(4), &e)) return false;
    *out = TypeInfo::sequence_of(e);
    return true;
  }
  if (s.rfind("tensor:", 0) != 0) return false;
  DType dt;
  if (!dtype_from_name(s.substr(7), &dt)) return false;
  *out = TypeInfo::tensor_unknown_shape(dt);
  return true;
}

}  // namespace

Status infer_sequence_construct(InferContext& ctx) {
  TypeInfo elem;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (elem.known() && t.is_tensor() && elem.dtype != DType::kUndefined && t.dtype != DType::kUndefined &&
        t.dtype != elem.dtype)
      return ctx.error("input " + std::to_string(i) + " is " + dtype_name(t.dtype) + " but input 0 is " +
                       dtype_name(elem.dtype));
    elem = i == 0 ? t : join_types(elem, t);
  }
  ctx.set_output_type(0, TypeInfo::sequence_of(elem));
  return ok_status();
}

Status infer_sequence_empty(InferContext& ctx) {
  DType dt = DType::kFloat32;
  if (ctx.attrs().has("dtype") && !dtype_from_int(ctx.attrs().get_int("dtype"), &dt))
    return ctx.error("attribute 'dtype' is not a valid element type");
  ctx.set_output_type(0, TypeInfo::sequence_of(TypeInfo::tensor_unknown_shape(dt)));
  return ok_status();
}

Status infer_sequence_at(InferContext& ctx) {
  TypeInfo elem;
  KILN_RETURN_IF_ERROR(require_sequence_type(ctx, 0, &elem));
  ctx.set_output_type(0, elem.known() ? elem : TypeInfo::tensor_unknown_shape(DType::kUndefined));
  return ok_status();
}

Status infer_sequence_erase(InferContext& ctx) {
  TypeInfo elem;
  KILN_RETURN_IF_ERROR(require_sequence_type(ctx, 0, &elem));
  ctx.set_output_type(0, TypeInfo::sequence_of(elem));
  return ok_status();
}

Status infer_sequence_insert(InferContext& ctx) {
  TypeInfo elem;
  KILN_RETURN_IF_ERROR(require_sequence_type(ctx, 0, &elem));
  const TypeInfo& t = ctx.input_type(1);
  if (elem.is_tensor() && t.is_tensor() && elem.dtype != DType::kUndefined && t.dtype != DType::kUndefined &&
      elem.dtype != t.dtype)
    return ctx.error(std::string("cannot insert a ") + dtype_name(t.dtype) + " tensor into a sequence of " +
                     dtype_name(elem.dtype));
  ctx.set_output_type(0, TypeInfo::sequence_of(join_types(elem, t)));
  return ok_status();
}

Status infer_sequence_length(InferContext& ctx) {
  TypeInfo elem;
  KILN_RETURN_IF_ERROR(require_sequence_type(ctx, 0, &elem));
  ctx.set_output_type(0, TypeInfo::tensor(DType::kInt64, Shape::of({})));
  return ok_status();
}

Status infer_split_to_sequence(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  TypeInfo elem = TypeInfo::tensor(x.dtype, x.shape);
  if (x.shape.rank_known) {
    const int64_t rank = static_cast<int64_t>(x.shape.rank());
    int64_t axis = 0;
    if (!normalize_axis(ctx.attrs().get_int("axis", 0), rank, &axis))
      return ctx.error("attribute 'axis' is out of range for input " + x.to_string());
    if (!ctx.has_input(1)) {
      if (ctx.attrs().get_int("keepdims", 1) != 0) elem.shape.dims[axis] = Dim::known(1);
      else elem.shape.dims.erase(elem.shape.dims.begin() + axis);
    } else {
      std::vector<int64_t> split;
      const Dim d = x.shape.dims[axis];
      bool all_same = constant_ints(ctx, 1, &split) && !split.empty();
      for (int64_t s : split) all_same = all_same && s == split[0];
      // A constant scalar chunk that divides the axis, or equal explicit sizes, keep the axis size known.
      const Tensor* sv = ctx.input_value(1);
      if (all_same && sv && sv->rank() == 1) elem.shape.dims[axis] = Dim::known(split[0]);
      else if (all_same && sv && sv->rank() == 0 && d.is_known() && split[0] > 0 && d.value % split[0] == 0)
        elem.shape.dims[axis] = Dim::known(split[0]);
      else elem.shape.dims[axis] = Dim{};
    }
  }
  ctx.set_output_type(0, TypeInfo::sequence_of(elem));
  return ok_status();
}

Status infer_concat_from_sequence(InferContext& ctx) {
  TypeInfo elem;
  KILN_RETURN_IF_ERROR(require_sequence_type(ctx, 0, &elem));
  if (!ctx.attrs().has("axis")) return ctx.error("attribute 'axis' is required");
  TypeInfo out = TypeInfo::tensor_unknown_shape(elem.dtype);
  if (elem.is_tensor() && elem.shape.rank_known) {
    const bool new_axis = ctx.attrs().get_int("new_axis", 0) != 0;
    const int64_t rank = static_cast<int64_t>(elem.shape.rank());
    int64_t axis = 0;
    if (!normalize_axis(ctx.attrs().get_int("axis"), rank + (new_axis ? 1 : 0), &axis))
      return ctx.error("attribute 'axis' is out of range for elements " + elem.to_string());
    out.shape = elem.shape;
    if (new_axis) out.shape.dims.insert(out.shape.dims.begin() + axis, Dim{});
    else out.shape.dims[axis] = Dim{};
  }
  ctx.set_output_type(0, out);
  return ok_status();
}

Status infer_optional(InferContext& ctx) {
  if (ctx.has_input(0)) {
    ctx.set_output_type(0, TypeInfo::optional_of(ctx.input_type(0)));
    return ok_status();
  }
  TypeInfo elem;
  if (!ctx.attrs().has("type")) return ctx.error("attribute 'type' is required when the input is absent");
  if (!parse_type_string(ctx.attrs().get_string("type"), &elem)) elem = TypeInfo{};
  ctx.set_output_type(0, TypeInfo::optional_of(elem));
  return ok_status();
}

Status infer_optional_get_element(InferContext& ctx) {
  const TypeInfo& t = ctx.input_type(0);
  ctx.set_output_type(0, t.kind == ValueKind::kOptional ? element_type(t) : t);
  return ok_status();
}

Status infer_optional_has_element(InferContext& ctx) {
  ctx.set_output_type(0, TypeInfo::tensor(DType::kBool, Shape::of({})));
  return ok_status();
}

}  // namespace kiln
