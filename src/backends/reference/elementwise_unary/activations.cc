// Activation-function reference kernels (Relu family, sigmoid family, Gelu, Shrink, ...).
#include <algorithm>
#include <cmath>

#include "backends/reference/elementwise_unary/unary_kernels.h"

namespace kiln {

namespace {

// 1 / (1 + exp(-v)) without overflow for large |v|.
template <typename T>
T stable_sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  T e = std::exp(v);
  return e / (T(1) + e);
}

// log(1 + exp(v)) without overflow for large v.
template <typename T>
T stable_softplus(T v) {
  if (v > T(0)) return v + std::log1p(std::exp(-v));
  return std::log1p(std::exp(v));
}

}  // namespace

Status relu_kernel(KernelContext& ctx) {
  return map_numeric_unary(
      ctx,
      [](auto v) {
        using T = decltype(v);
        return v < T(0) ? T(0) : v;  // NaN stays NaN, like numpy.maximum
      },
      /*with_unsigned=*/false);
}

Status leaky_relu_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 0.01f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * v : v;
  });
}

Status elu_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 1.0f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * (std::exp(v) - T(1)) : v;
  });
}

Status selu_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.attrs().get_float("gamma", 1.05070102214813232421875f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    T a = static_cast<T>(alpha), g = static_cast<T>(gamma);
    return v > T(0) ? g * v : g * (a * std::exp(v) - a);
  });
}

Status celu_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 1.0f);
  if (alpha == 0) return ctx.error("attribute alpha must be non-zero");
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    T a = static_cast<T>(alpha);
    return std::max(T(0), v) + std::min(T(0), a * (std::exp(v / a) - T(1)));
  });
}

Status gelu_kernel(KernelContext& ctx) {
  const std::string approx = ctx.attrs().get_string("approximate", "none");
  if (approx == "none") {
    return map_float_unary(ctx, [](auto v) {
      using T = decltype(v);
      return T(0.5) * v * (T(1) + std::erf(v / std::sqrt(T(2))));
    });
  }
  if (approx == "tanh") {
    return map_float_unary(ctx, [](auto v) {
      using T = decltype(v);
      const T k = std::sqrt(T(2) / static_cast<T>(M_PI));
      return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
    });
  }
  return ctx.error("attribute approximate must be 'none' or 'tanh', got '" + approx + "'");
}

Status hard_sigmoid_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 0.2f);
  const float beta = ctx.attrs().get_float("beta", 0.5f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    return std::max(T(0), std::min(T(1), static_cast<T>(alpha) * v + static_cast<T>(beta)));
  });
}

Status hard_swish_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) {
    using T = decltype(v);
    return v * std::max(T(0), std::min(T(1), v / T(6) + T(0.5)));
  });
}

Status mish_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return v * std::tanh(stable_softplus(v)); });
}

Status sigmoid_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return stable_sigmoid(v); });
}

Status softplus_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) { return stable_softplus(v); });
}

Status softsign_kernel(KernelContext& ctx) {
  return map_float_unary(ctx, [](auto v) {
    using T = decltype(v);
    return v / (T(1) + std::fabs(v));
  });
}

Status swish_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 1.0f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    return v * stable_sigmoid(static_cast<T>(alpha) * v);
  });
}

Status thresholded_relu_kernel(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 1.0f);
  return map_float_unary(ctx, [=](auto v) {
    using T = decltype(v);
    return v > static_cast<T>(alpha) ? v : T(0);
  });
}

// Shrink accepts every numeric type: computed in double and converted back, like the ONNX reference.
Status shrink_kernel(KernelContext& ctx) {
  const double bias = ctx.attrs().get_float("bias", 0.0f);
  const double lambd = ctx.attrs().get_float("lambd", 0.5f);
  return map_numeric_unary(ctx, [=](auto v) {
    using T = decltype(v);
    double x = static_cast<double>(v);
    double y = x < -lambd ? x + bias : (x > lambd ? x - bias : 0.0);
    if constexpr (std::is_integral_v<T>) {
      // Truncate, then wrap into T (no undefined float->int conversion for out-of-range results).
      constexpr double kTwo63 = 9223372036854775808.0;
      int64_t w = std::isnan(y) || y >= kTwo63 || y < -kTwo63 ? 0 : static_cast<int64_t>(y);
      return static_cast<T>(w);
    } else {
      return static_cast<T>(y);
    }
  });
}

}  // namespace kiln
