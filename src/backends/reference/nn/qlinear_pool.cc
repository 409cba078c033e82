// Reference QLinearGlobalAveragePool (ONNX Runtime's com.microsoft op, NCHW; docs/int8.md): per (n, c),
// Y = saturate(round_half_even(x_scale * (sum(X) - count * x_zero_point) / count / y_scale) + y_zero_point), the sum
// exact in integers, the rest in float64.
#include <cmath>

#include "backends/reference/nn/kernels.h"

namespace kiln::nn {

namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

Result<double> scalar_input(const KernelContext& ctx, size_t i, DType want) {
  if (!ctx.has_input(i)) return 0.0;
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& t = ctx.input(i);
  if (t.numel() != 1 || t.dtype() != want)
    return ctx.error("input " + std::to_string(i) + " must be one " + dtype_name(want) + " value");
  return t.as_double(0);
}

}  // namespace

Status qlinear_global_average_pool(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_q8(x.dtype())) return ctx.error(std::string("X must be uint8 or int8; got ") + dtype_name(x.dtype()));
  if (ctx.attrs().get_int("channels_last", 0) != 0) return ctx.unsupported("channels_last=1");
  if (x.rank() < 3) return ctx.error("X must have rank >= 3 (N, C, spatial...); got " + dims_to_string(x.dims()));
  KILN_ASSIGN_OR_RETURN(const double sx, scalar_input(ctx, 1, DType::kFloat32));
  KILN_ASSIGN_OR_RETURN(const double zx, scalar_input(ctx, 2, x.dtype()));
  KILN_ASSIGN_OR_RETURN(const double sy, scalar_input(ctx, 3, DType::kFloat32));
  KILN_ASSIGN_OR_RETURN(const double zy, scalar_input(ctx, 4, x.dtype()));
  Dims od{x.dim(0), x.dim(1)};
  int64_t count = 1;
  for (size_t d = 2; d < x.rank(); ++d) od.push_back(1), count *= x.dim(d);
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(x.dtype(), od));
  const double lo = x.dtype() == DType::kInt8 ? -128 : 0, hi = x.dtype() == DType::kInt8 ? 127 : 255;
  for (int64_t r = 0; r < x.dim(0) * x.dim(1); ++r) {
    int64_t sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += static_cast<int64_t>(x.as_double(r * count + i));
    double q = count == 0 ? zy : std::nearbyint(sx * (static_cast<double>(sum) - count * zx) / count / sy) + zy;
    q = q < lo ? lo : (q > hi ? hi : q);
    if (x.dtype() == DType::kInt8) y.data<int8_t>()[r] = static_cast<int8_t>(q);
    else y.data<uint8_t>()[r] = static_cast<uint8_t>(q);
  }
  ctx.set_output(0, std::move(y));
  return ok_status();
}

}  // namespace kiln::nn
