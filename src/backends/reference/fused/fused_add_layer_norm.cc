// Reference FusedAddLayerNorm: LayerNormalization over the last axis of X + R (R a suffix of X's shape; R may be
// omitted), in double; with fp8_scale also Y quantized to float8e4m3fn as QuantizeLinear would (output 1).
#include <cmath>

#include "core/float_formats.h"

#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"

namespace kiln::fused_ref {

Status fused_add_layer_norm(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const bool has_r = ctx.has_input(1);
  const Tensor& x = ctx.input(0);
  if (!fused_dtype_supported(x.dtype()))
    return ctx.error(std::string("X must be a float tensor; got ") + dtype_name(x.dtype()));
  const Tensor r = has_r ? ctx.input(1) : Tensor(x.dtype(), Dims{x.rank() ? x.dims().back() : 1});  // zeros
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
  Tensor out = from_float64(y, x.dtype());
  if (ctx.attrs().has("fp8_scale")) {
    // Y / fp8_scale in float32, rounded to X's dtype first when fp8_round_to_x (QuantizeLinear's rule for a scale of
    // X's 16-bit type), then to float8e4m3fn, saturating.
    const float s = ctx.attrs().get_float("fp8_scale", 1.f);
    const bool round_to_x = ctx.attrs().get_int("fp8_round_to_x", 0) != 0;
    Tensor q(DType::kFloat8E4M3FN, x.dims());
    for (int64_t i = 0; i < out.numel(); ++i) {
      float v = static_cast<float>(out.as_double(i)) / s;
      if (round_to_x && x.dtype() == DType::kFloat16) v = half_to_float(float_to_half(v));
      if (round_to_x && x.dtype() == DType::kBFloat16) v = bf16_to_float(float_to_bf16(v));
      q.data<uint8_t>()[i] = float_to_fp8e4m3fn(v, true);
    }
    ctx.set_output(1, std::move(q));
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln::fused_ref
