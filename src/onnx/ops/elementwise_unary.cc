// Import normalizers for the elementwise_unary family (older opset forms -> canonical form):
// Cast-1's string 'to' becomes the data-type number, Clip<11's min/max attributes become inputs.
#include <cctype>

#include "onnx/ops/normalize.h"

namespace kiln {

namespace {

// TensorProto.DataType names as Cast-1 spelled them in its string 'to' attribute.
bool dtype_code_from_onnx_name(std::string name, int64_t* code) {
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const struct {
    const char* name;
    int64_t code;
  } kNames[] = {{"FLOAT", 1},         {"UINT8", 2},
                {"INT8", 3},          {"UINT16", 4},
                {"INT16", 5},         {"INT32", 6},
                {"INT64", 7},         {"STRING", 8},
                {"BOOL", 9},          {"FLOAT16", 10},
                {"DOUBLE", 11},       {"UINT32", 12},
                {"UINT64", 13},       {"COMPLEX64", 14},
                {"COMPLEX128", 15},   {"BFLOAT16", 16},
                {"FLOAT8E4M3FN", 17}, {"FLOAT8E4M3FNUZ", 18},
                {"FLOAT8E5M2", 19},   {"FLOAT8E5M2FNUZ", 20},
                {"UINT4", 21},        {"INT4", 22},
                {"FLOAT4E2M1", 23},   {"FLOAT8E8M0", 24},
                {"UINT2", 25},        {"INT2", 26}};
  for (const auto& e : kNames) {
    if (name == e.name) {
      *code = e.code;
      return true;
    }
  }
  return false;
}

Status norm_cast(NormalizeContext& ctx) {
  const auto& all = ctx.node.attrs.all();
  auto it = all.find("to");
  if (it == all.end()) return ctx.error("attribute 'to' is required");
  if (const auto* s = std::get_if<std::string>(&it->second)) {
    int64_t code;
    if (!dtype_code_from_onnx_name(*s, &code))
      return ctx.error("attribute 'to' names an unknown data type '" + *s + "'");
    ctx.node.attrs.set("to", code);
  }
  return ok_status();
}

Status norm_clip(NormalizeContext& ctx) {
  Attrs& a = ctx.node.attrs;
  if (ctx.opset >= 11 || (!a.has("min") && !a.has("max"))) return ok_status();
  // Clip-1/6 bounds are float attributes; the kernel converts a float32 bound to the input's dtype.
  if (a.has("min")) ctx.set_const_input(1, Tensor::scalar<float>(DType::kFloat32, a.get_float("min")));
  if (a.has("max")) ctx.set_const_input(2, Tensor::scalar<float>(DType::kFloat32, a.get_float("max")));
  a.erase("min");
  a.erase("max");
  return ok_status();
}

// Opset-1 forms carried a legacy 'consumed_inputs' attribute with no meaning today.
Status norm_drop_consumed_inputs(NormalizeContext& ctx) {
  ctx.node.attrs.erase("consumed_inputs");
  return ok_status();
}

}  // namespace

void register_elementwise_unary_normalizers(NormalizeRegistry& r) {
  r.add(OpKind::kCast, norm_cast);
  r.add(OpKind::kClip, [](NormalizeContext& ctx) -> Status {
    ctx.node.attrs.erase("consumed_inputs");
    return norm_clip(ctx);
  });
  for (OpKind op : {OpKind::kAbs, OpKind::kCeil, OpKind::kElu, OpKind::kExp, OpKind::kFloor, OpKind::kHardSigmoid,
                    OpKind::kLeakyRelu, OpKind::kLog, OpKind::kNeg, OpKind::kReciprocal, OpKind::kRelu, OpKind::kSelu,
                    OpKind::kSigmoid, OpKind::kSqrt, OpKind::kTanh})
    r.add(op, norm_drop_consumed_inputs);
}

}  // namespace kiln
