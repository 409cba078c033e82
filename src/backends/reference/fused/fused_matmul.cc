// Reference FusedMatMul: Y = act(alpha * op(A) @ op(B) + bias + Z), the product by the reference MatMul kernel.
#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"
#include "backends/reference/math/math_kernels.h"
#include "core/float_formats.h"
#include "ir/op_params.h"

namespace kiln::fused_ref {
namespace {

// Swaps the last two dims of a float64 tensor (transA / transB); rank-1 operands are left alone.
Tensor transpose_last2(const Tensor& t) {
  if (t.rank() < 2) return t;
  return move_axis(t, t.rank() - 1, t.rank() - 2);
}

// Float8 A and B (docs/fused-ops.md, "FusedMatMul"): B float8 too, a float16/bfloat16/float32 bias, Z of its type.
Status check_float8_operands(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  if (!is_float8(ctx.input(1).dtype()))
    return ctx.error(std::string("float8 A needs a float8 B; got ") + dtype_name(ctx.input(1).dtype()));
  if (!ctx.has_input(2)) return ctx.error("float8 A and B need the bias input (it gives Y's float type)");
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const DType ty = ctx.input(2).dtype();
  if (!fused_dtype_supported(ty) || ty == DType::kFloat64)
    return ctx.error(std::string("the bias of a float8 product must be float32, float16 or bfloat16; got ") +
                     dtype_name(ty));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(3));
    if (ctx.input(3).dtype() != ty)
      return ctx.error(std::string("Z has dtype ") + dtype_name(ctx.input(3).dtype()) + "; the bias has " +
                       dtype_name(ty));
  }
  return ok_status();
}

}  // namespace

Status fused_matmul(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const bool fp8 = is_float8(ctx.input(0).dtype());
  if (ctx.num_inputs() > (fp8 ? 5 : 4))
    return ctx.error(fp8 ? "takes at most 5 inputs (A, B, bias, Z, y_inv_scale)"
                         : "takes at most 4 inputs (A, B, bias, Z)");
  if (fp8) {
    KILN_RETURN_IF_ERROR(check_float8_operands(ctx));
  } else {
    KILN_RETURN_IF_ERROR(check_fused_dtypes(ctx, ctx.num_inputs()));
  }
  KILN_ASSIGN_OR_RETURN(const fused::Activation act, fused::parse_activation(ctx.node()));
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  const bool trans_a = gp->trans_a, trans_b = gp->trans_b;
  const double alpha = gp->alpha;
  const DType dt = fp8 ? ctx.input(2).dtype() : ctx.input(0).dtype();  // float8 operands: Y has the bias's type
  Tensor a = to_float64(ctx.input(0)), b = to_float64(ctx.input(1));
  if (trans_a) a = transpose_last2(a);
  if (trans_b) b = transpose_last2(b);
  KILN_ASSIGN_OR_RETURN(Tensor y, run_inner_kernel(ctx, OpKind::kMatMul, math_ref::matmul, {a, b}));
  y = y.clone();  // owned, writable
  double* yd = y.data<double>();
  for (int64_t i = 0; i < y.numel(); ++i) yd[i] *= alpha;
  if (ctx.has_input(2)) {
    const Tensor bias = to_float64(ctx.input(2));
    const int64_t n = b.rank() >= 2 ? b.dim(b.rank() - 1) : 1;
    if (bias.rank() != 1 || bias.dim(0) != n)
      return ctx.error("bias must have shape [" + std::to_string(n) + "]; got " + dims_to_string(bias.dims()));
    // The output's last dim is N whenever B is a matrix; a vector B has no N dim and n == 1.
    for (int64_t i = 0; i < y.numel(); ++i) yd[i] += bias.data<double>()[b.rank() >= 2 ? i % n : 0];
  }
  if (ctx.has_input(3)) {
    const Tensor z = to_float64(ctx.input(3));
    Dims joined;
    if (!broadcast_dims(y.dims(), z.dims(), &joined) || joined != y.dims())
      return ctx.error("Z " + dims_to_string(z.dims()) + " does not broadcast to the output shape " +
                       dims_to_string(y.dims()));
    const auto map = broadcast_index_map(z.dims(), y.dims());
    for (int64_t i = 0; i < y.numel(); ++i) yd[i] += z.data<double>()[map[i]];
  }
  for (int64_t i = 0; i < y.numel(); ++i) yd[i] = apply_activation(act, yd[i]);
  if (fp8 && ctx.has_input(4)) {  // float8e4m3fn Y = float8(result * y_inv_scale), saturating
    KILN_RETURN_IF_ERROR(ctx.require_tensor(4));
    const Tensor& s = ctx.input(4);
    if (s.dtype() != DType::kFloat32 || s.numel() != 1) return ctx.error("y_inv_scale must be a float32 scalar");
    const float inv = s.data<float>()[0];
    Tensor q(DType::kFloat8E4M3FN, y.dims());
    for (int64_t i = 0; i < y.numel(); ++i)
      q.data<uint8_t>()[i] = float_to_fp8e4m3fn(static_cast<float>(yd[i]) * inv, true);
    ctx.set_output(0, std::move(q));
    return ok_status();
  }
  ctx.set_output(0, from_float64(y, dt));
  return ok_status();
}

}  // namespace kiln::fused_ref
