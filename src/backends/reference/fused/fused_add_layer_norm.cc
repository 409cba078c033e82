// Reference FusedAddLayerNorm: LayerNormalization over the last axis of X + R (R a suffix of X's shape), in double.
#include <cmath>

#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"

namespace kiln::fused_ref {

Status fused_add_layer_norm(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  const Tensor& r = ctx.input(1);
  const Tensor& scale = ctx.input(2);
  if (!fused_dtype_supported(x.dtype()) || r.dtype() != x.dtype())
    return ctx.error(std::string("X and R must be the same float type; got ") + dtype_name(x.dtype()) + " and " +
                     dtype_name(r.dtype()));
  if (x.rank() == 0) return ctx.error("X must have rank >= 1");
  if (r.rank() == 0 || !fused::is_repeating_suffix(r.dims(), x.dims()))
    return ctx.error("R of shape " + dims_to_string(r.dims()) + " must match the trailing dims of X " +
                     dims_to_string(x.dims()));
  const int64_t cols = x.dims().back(), rows = cols ? x.numel() / cols : 0;
  const bool has_bias = ctx.has_input(3);
  if (scale.numel() != cols || (has_bias && ctx.input(3).numel() != cols))
    return ctx.error("Scale and B must have " + std::to_string(cols) + " elements (X's last dim)");
  const double eps = ctx.attrs().get_float("epsilon", 1e-5f);
  const Tensor xd = to_float64(x), rd = to_float64(r), sd = to_float64(scale);
  const Tensor bd = has_bias ? to_float64(ctx.input(3)) : Tensor{};
  const double* xv = xd.data<double>();
  const double* rv = rd.data<double>();
  const double* sv = sd.data<double>();
  const double* bv = has_bias ? bd.data<double>() : nullptr;
  const int64_t r_rows = cols ? r.numel() / cols : 1;
  Tensor y(DType::kFloat64, x.dims());
  double* yv = y.data<double>();
  std::vector<double> row(static_cast<size_t>(cols));
  for (int64_t o = 0; o < rows; ++o) {
    const double* rr = rv + (o % r_rows) * cols;
    double mu = 0.0, s2 = 0.0;
    for (int64_t k = 0; k < cols; ++k) {
      row[k] = xv[o * cols + k] + rr[k];
      mu += row[k];
    }
    mu /= static_cast<double>(cols);
    for (int64_t k = 0; k < cols; ++k) s2 += (row[k] - mu) * (row[k] - mu);
    const double inv = 1.0 / std::sqrt(s2 / static_cast<double>(cols) + eps);
    for (int64_t k = 0; k < cols; ++k) yv[o * cols + k] = (row[k] - mu) * inv * sv[k] + (bv ? bv[k] : 0.0);
  }
  ctx.set_output(0, from_float64(y, x.dtype()));
  return ok_status();
}

}  // namespace kiln::fused_ref
