// Shape and type inference for the elementwise_unary family: outputs keep input 0's shape; the dtype is
// input 0's, bool (IsInf/IsNaN/Not), Cast's 'to' or CastLike's second input's. Cast folds constants.
#include "backends/reference/elementwise_unary/cast_convert.h"
#include "ir/infer_helpers.h"

namespace kiln {

namespace {

// Largest constant Cast folds at build time (shape arithmetic is small; big weights are left alone).
constexpr int64_t kMaxFoldElements = 4096;

bool is_tensor_or_unknown(const TypeInfo& t) { return !t.known() || t.is_tensor(); }

Status require_tensor_input(InferContext& ctx, size_t i) {
  if (!is_tensor_or_unknown(ctx.input_type(i)))
    return ctx.error("input " + std::to_string(i) + " must be a tensor, got " + ctx.input_type(i).to_string());
  return ok_status();
}

Status infer_unary_same(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 0));
  return infer_same_as_input(ctx, 0, 0);
}

// Float-only ops: a known non-float input dtype cannot be valid.
Status infer_unary_float(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 0));
  DType t = ctx.input_type(0).dtype;
  if (t != DType::kUndefined && !is_float(t))
    return ctx.error(std::string("input must be a float tensor, got ") + dtype_name(t));
  return infer_same_as_input(ctx, 0, 0);
}

// Output is bool with input 0's shape.
Status infer_unary_bool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 0));
  const TypeInfo& in = ctx.input_type(0);
  ctx.set_output_type(0, TypeInfo::tensor(DType::kBool, in.known() ? in.shape : Shape::unknown_rank()));
  return ok_status();
}

Status infer_not(InferContext& ctx) {
  DType t = ctx.input_type(0).dtype;
  if (t != DType::kUndefined && t != DType::kBool)
    return ctx.error(std::string("input must be bool, got ") + dtype_name(t));
  return infer_unary_bool(ctx);
}

Status infer_bitwise_not(InferContext& ctx) {
  DType t = ctx.input_type(0).dtype;
  if (t != DType::kUndefined && !is_integer(t))
    return ctx.error(std::string("input must be an integer tensor, got ") + dtype_name(t));
  return infer_unary_same(ctx);
}

Status infer_clip(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 0));
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    const TypeInfo& b = ctx.input_type(i);
    if (b.is_tensor() && b.shape.rank_known && b.shape.rank() > 0) {
      // A bound must hold exactly one element.
      for (const Dim& d : b.shape.dims)
        if (d.is_known() && d.value != 1)
          return ctx.error(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " + b.shape.to_string());
    }
  }
  return infer_same_as_input(ctx, 0, 0);
}

// Sets output 0 to `to` with input 0's shape, folding a small constant input.
Status infer_cast_to(InferContext& ctx, DType to) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 0));
  const Tensor* value = ctx.input_value(0);
  if (value && value->defined() && value->numel() <= kMaxFoldElements && cast_supports(value->dtype()) &&
      cast_supports(to)) {
    CastOptions opt;
    opt.saturate = ctx.attrs().get_int("saturate", 1) != 0;
    opt.round_mode = ctx.attrs().get_string("round_mode", "up");
    Result<Tensor> folded = cast_tensor(*value, to, opt);
    if (folded.ok()) {
      ctx.set_output_value(0, std::move(folded.value()));
      return ok_status();
    }
  }
  const TypeInfo& in = ctx.input_type(0);
  ctx.set_output_type(0, TypeInfo::tensor(to, in.known() ? in.shape : Shape::unknown_rank()));
  return ok_status();
}

Status infer_cast(InferContext& ctx) {
  if (!ctx.attrs().has("to")) return ctx.error("attribute 'to' is required");
  DType to;
  int64_t code = ctx.attrs().get_int("to", 0);
  if (!dtype_from_int(code, &to)) return ctx.error("attribute 'to' is not a known data type: " + std::to_string(code));
  return infer_cast_to(ctx, to);
}

Status infer_cast_like(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor_input(ctx, 1));
  DType to = ctx.input_type(1).dtype;
  if (to == DType::kUndefined) {
    // Target dtype unknown: only the shape is known.
    const TypeInfo& in = ctx.input_type(0);
    ctx.set_output_type(0, TypeInfo::tensor(DType::kUndefined, in.known() ? in.shape : Shape::unknown_rank()));
    return ok_status();
  }
  return infer_cast_to(ctx, to);
}

}  // namespace

void register_elementwise_unary_infer(InferRegistry& r) {
  for (OpKind op : {OpKind::kAcos,     OpKind::kAcosh,       OpKind::kAsin,
                    OpKind::kAsinh,    OpKind::kAtan,        OpKind::kAtanh,
                    OpKind::kCeil,     OpKind::kCos,         OpKind::kCosh,
                    OpKind::kErf,      OpKind::kExp,         OpKind::kFloor,
                    OpKind::kLog,      OpKind::kReciprocal,  OpKind::kRound,
                    OpKind::kSin,      OpKind::kSinh,        OpKind::kSqrt,
                    OpKind::kTan,      OpKind::kTanh,        OpKind::kLeakyRelu,
                    OpKind::kElu,      OpKind::kSelu,        OpKind::kCelu,
                    OpKind::kGelu,     OpKind::kHardSigmoid, OpKind::kHardSwish,
                    OpKind::kMish,     OpKind::kSigmoid,     OpKind::kSoftplus,
                    OpKind::kSoftsign, OpKind::kSwish,       OpKind::kThresholdedRelu})
    r.add(op, infer_unary_float);
  for (OpKind op : {OpKind::kAbs, OpKind::kNeg, OpKind::kSign, OpKind::kRelu, OpKind::kShrink})
    r.add(op, infer_unary_same);
  r.add(OpKind::kIsInf, infer_unary_bool);
  r.add(OpKind::kIsNaN, infer_unary_bool);
  r.add(OpKind::kNot, infer_not);
  r.add(OpKind::kBitwiseNot, infer_bitwise_not);
  r.add(OpKind::kClip, infer_clip);
  r.add(OpKind::kCast, infer_cast);
  r.add(OpKind::kCastLike, infer_cast_like);
}

}  // namespace kiln
