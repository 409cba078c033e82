// Cast and CastLike reference kernels (the conversion table lives in cast_convert.cc).
#include "backends/reference/elementwise_unary/cast_convert.h"
#include "backends/reference/elementwise_unary/unary_kernels.h"

namespace kiln {

namespace {

Result<CastOptions> cast_options(const KernelContext& ctx) {
  CastOptions opt;
  opt.saturate = ctx.attrs().get_int("saturate", 1) != 0;
  opt.round_mode = ctx.attrs().get_string("round_mode", "up");
  if (opt.round_mode != "up" && opt.round_mode != "down" && opt.round_mode != "nearest")
    return ctx.error("attribute round_mode must be 'up', 'down' or 'nearest', got '" + opt.round_mode + "'");
  return opt;
}

Status cast_to(KernelContext& ctx, DType to) {
  const Tensor& in = ctx.input(0);
  if (!cast_supports(in.dtype())) return ctx.unsupported(std::string("cannot cast from ") + dtype_name(in.dtype()));
  if (!cast_supports(to)) return ctx.unsupported(std::string("cannot cast to ") + dtype_name(to));
  KILN_ASSIGN_OR_RETURN(CastOptions opt, cast_options(ctx));
  Result<Tensor> out = cast_tensor(in, to, opt);
  if (!out.ok()) return out.status().with_context(ctx.node().describe());
  ctx.set_output(0, std::move(out.value()));
  return ok_status();
}

}  // namespace

Status cast_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  if (!ctx.attrs().has("to")) return ctx.error("attribute 'to' is required");
  DType to;
  int64_t code = ctx.attrs().get_int("to", 0);
  if (!dtype_from_int(code, &to)) return ctx.error("attribute 'to' is not a known data type: " + std::to_string(code));
  return cast_to(ctx, to);
}

Status cast_like_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  return cast_to(ctx, ctx.input(1).dtype());
}

}  // namespace kiln
