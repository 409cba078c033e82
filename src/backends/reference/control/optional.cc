// Reference kernels for Optional, OptionalGetElement and OptionalHasElement.
#include <string>

#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

// Parses the importer's type string ("tensor:float32", "seq:tensor:int64") of an empty Optional.
bool parse_type_attr(const std::string& s, ValueKind* kind, DType* elem) {
  std::string rest = s;
  *kind = ValueKind::kTensor;
  if (rest.rfind("seq:", 0) == 0) {
    *kind = ValueKind::kSequence;
    rest = rest.substr(4);
  }
  if (rest.rfind("tensor:", 0) != 0) return false;
  return dtype_from_name(rest.substr(7), elem);
}

}  // namespace

Status optional_kernel(KernelContext& ctx) {
  Value out;
  out.kind = ValueKind::kOptional;
  if (ctx.has_input(0)) {
    const Value& in = ctx.input_value(0);
    if (in.kind != ValueKind::kTensor && in.kind != ValueKind::kSequence)
      return ctx.error("input 0 must be a tensor or a sequence, got " + control::value_kind_name(in));
    out.has_value = true;
    out.optional_of = in.kind;
    out.tensor = in.tensor;
    out.sequence = in.sequence;
    out.elem_dtype = in.kind == ValueKind::kTensor ? in.tensor.dtype() : in.elem_dtype;
  } else {
    if (!ctx.attrs().has("type")) return ctx.error("attribute 'type' is required when the input is absent");
    const std::string type = ctx.attrs().get_string("type");
    ValueKind kind;
    DType elem;
    if (!parse_type_attr(type, &kind, &elem))
      return ctx.unsupported("attribute 'type' = '" + type + "' is not a tensor or sequence-of-tensor type");
    out.has_value = false;
    out.optional_of = kind;
    out.elem_dtype = elem;
  }
  ctx.set_output_value(0, std::move(out));
  return ok_status();
}

Status optional_get_element_kernel(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("required input 0 is missing");
  const Value& in = ctx.input_value(0);
  if (in.kind == ValueKind::kTensor || in.kind == ValueKind::kSequence) {  // opset 18+: plain values pass through
    ctx.set_output_value(0, in);
    return ok_status();
  }
  if (in.kind != ValueKind::kOptional) return ctx.error("input 0 must be an optional, got " + control::value_kind_name(in));
  if (!in.has_value) return ctx.error("input 0 is an empty optional");
  if (in.optional_of == ValueKind::kSequence) {
    ctx.set_output_value(0, Value::of_sequence(in.sequence, in.elem_dtype));
  } else {
    ctx.set_output(0, in.tensor);
  }
  return ok_status();
}

Status optional_has_element_kernel(KernelContext& ctx) {
  bool has = false;
  if (ctx.has_input(0)) {
    const Value& in = ctx.input_value(0);
    has = in.kind == ValueKind::kOptional ? in.has_value : in.kind != ValueKind::kUnknown;
  }
  ctx.set_output(0, Tensor::scalar<uint8_t>(DType::kBool, has ? 1 : 0));
  return ok_status();
}

}  // namespace kiln
