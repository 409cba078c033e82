// Shape and type inference for the elementwise_binary family (broadcasting ops, Where, PRelu, quantization,
// QLinearAdd/QLinearMul).
#include "ir/infer_helpers.h"

namespace kiln {

// elementwise_binary_fold.cc: evaluates the node when all inputs are small integer/bool constants.
bool fold_small_int_constants(const InferContext& ctx, Tensor* out);

namespace {

// Errors if the known dtypes of inputs i and j differ.
Status check_same_dtype(const InferContext& ctx, size_t i, size_t j) {
  const TypeInfo& a = ctx.input_type(i);
  const TypeInfo& b = ctx.input_type(j);
  if (a.dtype != DType::kUndefined && b.dtype != DType::kUndefined && a.dtype != b.dtype)
    return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(a.dtype) + " but input " +
                     std::to_string(j) + " has dtype " + dtype_name(b.dtype) + "; they must match");
  return ok_status();
}

// Output shape of a two-input op: numpy broadcasting, or A's shape under the opset<7 broadcast=1 rule.
Status binary_shape(const InferContext& ctx, Shape* out) {
  const Shape& a = ctx.input_type(0).shape;
  const Shape& b = ctx.input_type(1).shape;
  if (ctx.opset() < 7 && ctx.attrs().get_int("broadcast", 0) != 0) {
    if (a.rank_known && b.rank_known && b.rank() > a.rank())
      return ctx.error("legacy broadcast: B " + b.to_string() + " has a higher rank than A " + a.to_string());
    *out = a;
    return ok_status();
  }
  Status st = broadcast_shapes(a, b, out);
  if (!st.ok()) return ctx.error(st.message());
  return ok_status();
}

// The dtype of the first input whose dtype is known, or kUndefined.
DType first_known_dtype(const InferContext& ctx, size_t from, size_t to) {
  for (size_t i = from; i < to && i < ctx.num_inputs(); ++i)
    if (ctx.input_type(i).dtype != DType::kUndefined) return ctx.input_type(i).dtype;
  return DType::kUndefined;
}

// Add, Sub, Mul, Div, Mod, BitShift, Bitwise*: output has the inputs' dtype and the broadcast shape.
Status infer_arith(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  Shape s;
  KILN_RETURN_IF_ERROR(binary_shape(ctx, &s));
  ctx.set_output_type(0, TypeInfo::tensor(first_known_dtype(ctx, 0, 2), s));
  Tensor folded;
  if (fold_small_int_constants(ctx, &folded)) ctx.set_output_value(0, std::move(folded));
  return ok_status();
}

Status infer_pow(InferContext& ctx) {
  Shape s;
  KILN_RETURN_IF_ERROR(binary_shape(ctx, &s));
  ctx.set_output_type(0, TypeInfo::tensor(ctx.input_type(0).dtype, s));
  return ok_status();
}

// And, Or, Xor, Equal, Greater, ...: bool output of the broadcast shape.
Status infer_compare(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  Shape s;
  KILN_RETURN_IF_ERROR(binary_shape(ctx, &s));
  ctx.set_output_type(0, TypeInfo::tensor(DType::kBool, s));
  Tensor folded;
  if (fold_small_int_constants(ctx, &folded)) ctx.set_output_value(0, std::move(folded));
  return ok_status();
}

// Max, Min, Mean, Sum: broadcast of all inputs.
Status infer_variadic(InferContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.error("needs at least one input");
  Shape s = ctx.input_type(0).shape;
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    KILN_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
    Shape next;
    Status st = broadcast_shapes(s, ctx.input_type(i).shape, &next);
    if (!st.ok()) return ctx.error(st.message());
    s = std::move(next);
  }
  ctx.set_output_type(0, TypeInfo::tensor(first_known_dtype(ctx, 0, ctx.num_inputs()), s));
  Tensor folded;
  if (fold_small_int_constants(ctx, &folded)) ctx.set_output_value(0, std::move(folded));
  return ok_status();
}

Status infer_prelu(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  const Shape& x = ctx.input_type(0).shape;
  const Shape& slope = ctx.input_type(1).shape;
  if (ctx.opset() >= 7 && x.rank_known && slope.rank_known) {
    Shape b;
    Status st = broadcast_shapes(x, slope, &b);
    bool grows = !st.ok() || b.rank() != x.rank();
    for (size_t i = 0; !grows && i < b.rank(); ++i)
      grows = b.dims[i].is_known() && x.dims[i].is_known() && b.dims[i].value != x.dims[i].value;
    if (grows)
      return ctx.error("slope shape " + slope.to_string() + " cannot be broadcast to X shape " + x.to_string());
  }
  ctx.set_output_type(0, TypeInfo::tensor(first_known_dtype(ctx, 0, 2), x));
  return ok_status();
}

Status infer_where(InferContext& ctx) {
  const DType c = ctx.input_type(0).dtype;
  if (c != DType::kUndefined && c != DType::kBool)
    return ctx.error(std::string("condition must be bool, got ") + dtype_name(c));
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, 1, 2));
  Shape s1, s2;
  Status st = broadcast_shapes(ctx.input_type(0).shape, ctx.input_type(1).shape, &s1);
  if (st.ok()) st = broadcast_shapes(s1, ctx.input_type(2).shape, &s2);
  if (!st.ok()) return ctx.error(st.message());
  ctx.set_output_type(0, TypeInfo::tensor(first_known_dtype(ctx, 1, 3), s2));
  Tensor folded;
  if (fold_small_int_constants(ctx, &folded)) ctx.set_output_value(0, std::move(folded));
  return ok_status();
}

Status infer_quantize_linear(InferContext& ctx) {
  DType out = DType::kUInt8;
  const int64_t od = ctx.attrs().get_int("output_dtype", 0);
  if (od != 0 && !dtype_from_int(od, &out)) return ctx.error("unknown output_dtype " + std::to_string(od));
  if (ctx.has_input(2)) {
    const DType zt = ctx.input_type(2).dtype;
    if (zt != DType::kUndefined) {
      if (od != 0 && zt != out)
        return ctx.error(std::string("output_dtype ") + dtype_name(out) + " differs from the zero point's dtype " +
                         dtype_name(zt));
      out = zt;
    } else if (od == 0) {
      out = DType::kUndefined;  // comes from the zero point, not known yet
    }
  }
  ctx.set_output_type(0, TypeInfo::tensor(out, ctx.input_type(0).shape));
  return ok_status();
}

Status infer_dequantize_linear(InferContext& ctx) {
  DType out = ctx.input_type(1).dtype;
  const int64_t od = ctx.attrs().get_int("output_dtype", 0);
  if (od != 0 && !dtype_from_int(od, &out)) return ctx.error("unknown output_dtype " + std::to_string(od));
  if (ctx.has_input(2)) {
    const DType xt = ctx.input_type(0).dtype, zt = ctx.input_type(2).dtype;
    if (xt != DType::kUndefined && zt != DType::kUndefined && xt != zt)
      return ctx.error(std::string("zero point dtype ") + dtype_name(zt) + " must match x dtype " + dtype_name(xt));
  }
  ctx.set_output_type(0, TypeInfo::tensor(out, ctx.input_type(0).shape));
  return ok_status();
}

Status infer_dynamic_quantize_linear(InferContext& ctx) {
  const DType xt = ctx.input_type(0).dtype;
  ctx.set_output_type(0, TypeInfo::tensor(DType::kUInt8, ctx.input_type(0).shape));
  ctx.set_output_type(1, TypeInfo::tensor(xt == DType::kUndefined ? DType::kFloat32 : xt, Shape::of({})));
  ctx.set_output_type(2, TypeInfo::tensor(DType::kUInt8, Shape::of({})));
  return ok_status();
}

// QLinearAdd / QLinearMul (com.microsoft): A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale,
// C_zero_point? -> C over the broadcast shape of A and B; C's dtype is C_zero_point's, else A's.
Status infer_qlinear_binary(InferContext& ctx) {
  if (ctx.num_inputs() < 7 || !ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(3) || !ctx.has_input(4) ||
      !ctx.has_input(6))
    return ctx.error("needs A, A_scale, B, B_scale and C_scale (inputs 0, 1, 3, 4, 6)");
  for (size_t i : {size_t{0}, size_t{3}}) {
    const DType t = ctx.input_type(i).dtype;
    if (t != DType::kUndefined && t != DType::kUInt8 && t != DType::kInt8)
      return ctx.error("input " + std::to_string(i) + " must be uint8 or int8; got " + dtype_name(t));
  }
  Shape s;
  Status st = broadcast_shapes(ctx.input_type(0).shape, ctx.input_type(3).shape, &s);
  if (!st.ok()) return ctx.error(st.message());
  const DType out = ctx.has_input(7) ? ctx.input_type(7).dtype : ctx.input_type(0).dtype;
  ctx.set_output_type(0, TypeInfo::tensor(out, s));
  return ok_status();
}

}  // namespace

void register_elementwise_binary_infer(InferRegistry& r) {
  for (OpKind k : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMod, OpKind::kBitShift,
                   OpKind::kBitwiseAnd, OpKind::kBitwiseOr, OpKind::kBitwiseXor})
    r.add(k, infer_arith);
  r.add(OpKind::kPow, infer_pow);
  for (OpKind k : {OpKind::kAnd, OpKind::kOr, OpKind::kXor, OpKind::kEqual, OpKind::kGreater, OpKind::kGreaterOrEqual,
                   OpKind::kLess, OpKind::kLessOrEqual})
    r.add(k, infer_compare);
  for (OpKind k : {OpKind::kMax, OpKind::kMin, OpKind::kMean, OpKind::kSum}) r.add(k, infer_variadic);
  r.add(OpKind::kPRelu, infer_prelu);
  r.add(OpKind::kWhere, infer_where);
  r.add(OpKind::kQuantizeLinear, infer_quantize_linear);
  r.add(OpKind::kDequantizeLinear, infer_dequantize_linear);
  r.add(OpKind::kDynamicQuantizeLinear, infer_dynamic_quantize_linear);
  r.add(OpKind::kQLinearAdd, infer_qlinear_binary);
  r.add(OpKind::kQLinearMul, infer_qlinear_binary);
}

}  // namespace kiln
