// Reference LRN (cross-channel local response normalization) and LpNormalization (L1/L2 along an axis).
#include <cmath>

#include "backends/reference/nn/nn_util.h"

namespace kiln {
namespace {

Status lrn_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "X"));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...); got " + nn::dims_str(x.dims()));
  const int64_t size = ctx.attrs().get_int("size", 0);
  if (size <= 0) return ctx.error("size must be a positive integer; got " + std::to_string(size));
  const double alpha = ctx.attrs().get_float("alpha", 1e-4f), beta = ctx.attrs().get_float("beta", 0.75f);
  const double bias = ctx.attrs().get_float("bias", 1.0f);
  const int64_t n = x.dim(0), c = x.dim(1), sp = dims_numel(Dims(x.dims().begin() + 2, x.dims().end()));
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size());
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t k = 0; k < sp; ++k) {
        double s = 0.0;
        for (int64_t cj = std::max<int64_t>(0, ci - lo); cj <= std::min<int64_t>(c - 1, ci + hi); ++cj) {
          const double v = xv[(ni * c + cj) * sp + k];
          s += v * v;
        }
        const int64_t i = (ni * c + ci) * sp + k;
        y[i] = xv[i] / std::pow(bias + alpha / static_cast<double>(size) * s, beta);
      }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status lp_normalization_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(nn::require_float(ctx, 0, "input"));
  const Tensor& x = ctx.input(0);
  const int64_t p = ctx.attrs().get_int("p", 2);
  if (p != 1 && p != 2) return ctx.error("p must be 1 or 2; got " + std::to_string(p));
  int64_t axis = 0;
  const int64_t r = static_cast<int64_t>(x.rank());
  if (r == 0) return ctx.error("input must have rank >= 1");
  if (!normalize_axis_index(ctx.attrs().get_int("axis", -1), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", -1)) + " is out of range for rank " + std::to_string(r));
  const int64_t len = x.dim(axis);
  const int64_t inner = dims_numel(Dims(x.dims().begin() + axis + 1, x.dims().end()));
  const int64_t outer = len * inner == 0 ? 0 : x.numel() / (len * inner);
  const auto xv = nn::read_doubles(x);
  std::vector<double> y(xv.size(), 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      double s = 0.0;
      for (int64_t j = 0; j < len; ++j) {
        const double v = xv[(o * len + j) * inner + k];
        s += p == 1 ? std::fabs(v) : v * v;
      }
      const double norm = p == 1 ? s : std::sqrt(s);
      for (int64_t j = 0; j < len; ++j) {
        const int64_t i = (o * len + j) * inner + k;
        y[i] = xv[i] / norm;  // 0/0 gives NaN, as in the ONNX reference
      }
    }
  KILN_ASSIGN_OR_RETURN(Tensor out, nn::make_tensor(x.dtype(), x.dims(), y));
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

namespace nn {
Status lrn(KernelContext& ctx) { return lrn_kernel(ctx); }
Status lp_normalization(KernelContext& ctx) { return lp_normalization_kernel(ctx); }
}  // namespace nn

}  // namespace kiln
