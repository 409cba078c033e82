// Elementwise math reference kernels: trigonometric, hyperbolic, exp/log, rounding, sign.
#include <cmath>

#include "backends/reference/elementwise_unary/unary_kernels.h"

namespace kiln {

Status acos_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::acos(v); });
}
Status acosh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::acosh(v); });
}
Status asin_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::asin(v); });
}
Status asinh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::asinh(v); });
}
Status atan_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::atan(v); });
}
Status atanh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::atanh(v); });
}
Status cos_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::cos(v); });
}
Status cosh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::cosh(v); });
}
Status sin_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::sin(v); });
}
Status sinh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::sinh(v); });
}
Status tan_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::tan(v); });
}
Status tanh_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::tanh(v); });
}
Status erf_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::erf(v); });
}
Status exp_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::exp(v); });
}
Status log_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::log(v); });
}
Status sqrt_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::sqrt(v); });
}
Status ceil_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::ceil(v); });
}
Status floor_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::floor(v); });
}

// Round half to even (std::nearbyint under the default round-to-nearest mode).
Status round_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return std::nearbyint(v); });
}

Status reciprocal_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return static_cast<decltype(v)>(1) / v; });
}

Status abs_kernel(KernelContext& ctx) {
  return map_numeric_unary(ctx, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_unsigned_v<T>)
      return v;
    else if constexpr (std::is_integral_v<T>)
      return v < 0 ? wrapping_negate(v) : v;
    else
      return std::fabs(v);
  });
}

Status neg_kernel(KernelContext& ctx) {
  return map_numeric_unary(
      ctx, [](auto v) { return wrapping_negate(v); }, /*with_unsigned=*/false);
}

// -1, 0 or 1 (NaN stays NaN for floats).
Status sign_kernel(KernelContext& ctx) {
  return map_numeric_unary(ctx, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) return v;
    }
    if (v > T(0)) return T(1);
    if (v < T(0)) return static_cast<T>(-1);
    return T(0);
  });
}

}  // namespace kiln
