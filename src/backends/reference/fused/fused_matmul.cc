// Reference FusedMatMul: Y = act(alpha * op(A) @ op(B) + bias + Z), the product by the reference MatMul kernel.
#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"
#include "backends/reference/math/math_kernels.h"
#include "ir/op_params.h"

namespace kiln::fused_ref {
namespace {

// Swaps the last two dims of a float64 tensor (transA / transB); rank-1 operands are left alone.
Tensor transpose_last2(const Tensor& t) {
  if (t.rank() < 2) return t;
  return move_axis(t, t.rank() - 1, t.rank() - 2);
}

}  // namespace

Status fused_matmul(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  if (ctx.num_inputs() > 4) return ctx.error("takes at most 4 inputs (A, B, bias, Z)");
  KILN_RETURN_IF_ERROR(check_fused_dtypes(ctx, ctx.num_inputs()));
  KILN_ASSIGN_OR_RETURN(const fused::Activation act, fused::parse_activation(ctx.node()));
  auto gp = gemm_params(ctx.attrs());
  if (!gp.ok()) return ctx.error(gp.status().message());
  const bool trans_a = gp->trans_a, trans_b = gp->trans_b;
  const double alpha = gp->alpha;
  const DType dt = ctx.input(0).dtype();
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
  ctx.set_output(0, from_float64(y, dt));
  return ok_status();
}

}  // namespace kiln::fused_ref
