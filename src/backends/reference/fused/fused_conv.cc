// Reference FusedConv: Y = act(conv(X, W) + B + Z) in NCHW or NHWC, convolution by the reference Conv kernel.
#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"
#include "backends/reference/nn/kernels.h"

namespace kiln::fused_ref {

Status fused_conv(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  if (ctx.num_inputs() > 4) return ctx.error("takes at most 4 inputs (X, W, B, Z)");
  KILN_RETURN_IF_ERROR(check_fused_dtypes(ctx, ctx.num_inputs()));
  KILN_ASSIGN_OR_RETURN(const fused::Activation act, fused::parse_activation(ctx.node()));
  const std::string layout = ctx.attrs().get_string("layout", "NCHW");
  if (layout != "NCHW" && layout != "NHWC") return ctx.error("layout must be NCHW or NHWC; got '" + layout + "'");
  const bool nhwc = layout == "NHWC";
  const DType dt = ctx.input(0).dtype();
  Tensor x = to_float64(ctx.input(0)), w = to_float64(ctx.input(1));
  if (x.rank() < 3) return ctx.error("input X must have rank >= 3; got " + dims_to_string(x.dims()));
  if (w.rank() != x.rank())
    return ctx.error("W rank " + std::to_string(w.rank()) + " must equal X rank " + std::to_string(x.rank()));
  if (nhwc) {
    // Channels-last X [N, spatial..., C] and W [M, k..., C/g] to the channels-first forms Conv computes on.
    x = move_axis(x, x.rank() - 1, 1);
    w = move_axis(w, w.rank() - 1, 1);
  }
  Tensor b;
  if (ctx.has_input(2)) {
    b = to_float64(ctx.input(2));
    if (b.rank() != 1 || b.dim(0) != w.dim(0))
      return ctx.error("B must have shape [" + std::to_string(w.dim(0)) + "]; got " + dims_to_string(b.dims()));
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, run_inner_kernel(ctx, OpKind::kConv, nn::conv, {x, w, b}));
  if (nhwc) y = move_axis(y, 1, y.rank() - 1);
  double* yd = y.data<double>();
  if (ctx.has_input(3)) {
    const Tensor z = to_float64(ctx.input(3));
    if (z.dims() != y.dims())
      return ctx.error("Z must have the output's shape " + dims_to_string(y.dims()) + "; got " +
                       dims_to_string(z.dims()));
    for (int64_t i = 0; i < y.numel(); ++i) yd[i] += z.data<double>()[i];
  }
  for (int64_t i = 0; i < y.numel(); ++i) yd[i] = apply_activation(act, yd[i]);
  ctx.set_output(0, from_float64(y, dt));
  return ok_status();
}

}  // namespace kiln::fused_ref
