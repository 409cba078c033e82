// Elementwise unary reference kernels: declarations and the shared map helpers they are built from.
#pragma once
#include <string>
#include <type_traits>

#include "backends/reference/common.h"

namespace kiln {

// Applies `f` (a generic lambda over float/double) to every element of input 0, a float tensor.
// float32/float64 are computed natively; float16/bfloat16 in float32 and rounded back.
template <typename F>
Status map_float_unary(KernelContext& ctx, F f) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const DType t = x.dtype();
  const int64_t n = x.numel();
  if (t == DType::kFloat64) {
    Tensor out(t, x.dims());
    for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = static_cast<double>(f(x.data<double>()[i]));
    ctx.set_output(0, std::move(out));
    return ok_status();
  }
  if (t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16) {
    Tensor xf = to_float32(x);
    Tensor out(DType::kFloat32, x.dims());
    for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = static_cast<float>(f(xf.data<float>()[i]));
    ctx.set_output(0, from_float32(out, t));
    return ok_status();
  }
  return ctx.unsupported(std::string("input dtype ") + dtype_name(t) +
                         " is not supported (expected float16, bfloat16, float32 or float64)");
}

// Applies `f` (a generic lambda T -> T) to every element of input 0 for float and integer dtypes
// (`with_unsigned`: also uint8..uint64). float16/bfloat16 are computed in float32.
template <typename F>
Status map_numeric_unary(KernelContext& ctx, F f, bool with_unsigned = true) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const DType t = x.dtype();
  const int64_t n = x.numel();
  if (t == DType::kFloat16 || t == DType::kBFloat16) {
    Tensor xf = to_float32(x);
    Tensor out(DType::kFloat32, x.dims());
    for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = f(xf.data<float>()[i]);
    ctx.set_output(0, from_float32(out, t));
    return ok_status();
  }
  if (!with_unsigned && is_unsigned_int(t))
    return ctx.unsupported(std::string("input dtype ") + dtype_name(t) + " is not supported (unsigned)");
  Tensor out(t, x.dims());
  Status st = dispatch_dtype(t, DispatchSet{}, [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(f(in[i]));
  });
  if (!st.ok()) return ctx.unsupported("input " + st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

// Two's-complement negation without signed overflow (INT_MIN stays INT_MIN).
template <typename T>
T wrapping_negate(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(0) - static_cast<U>(v));
  } else {
    return -v;
  }
}

// Math (unary_math.cc).
Status abs_kernel(KernelContext& ctx);
Status acos_kernel(KernelContext& ctx);
Status acosh_kernel(KernelContext& ctx);
Status asin_kernel(KernelContext& ctx);
Status asinh_kernel(KernelContext& ctx);
Status atan_kernel(KernelContext& ctx);
Status atanh_kernel(KernelContext& ctx);
Status ceil_kernel(KernelContext& ctx);
Status cos_kernel(KernelContext& ctx);
Status cosh_kernel(KernelContext& ctx);
Status erf_kernel(KernelContext& ctx);
Status exp_kernel(KernelContext& ctx);
Status floor_kernel(KernelContext& ctx);
Status log_kernel(KernelContext& ctx);
Status neg_kernel(KernelContext& ctx);
Status reciprocal_kernel(KernelContext& ctx);
Status round_kernel(KernelContext& ctx);
Status sign_kernel(KernelContext& ctx);
Status sin_kernel(KernelContext& ctx);
Status sinh_kernel(KernelContext& ctx);
Status sqrt_kernel(KernelContext& ctx);
Status tan_kernel(KernelContext& ctx);
Status tanh_kernel(KernelContext& ctx);

// Logic and classification (unary_logic.cc).
Status not_kernel(KernelContext& ctx);
Status bitwise_not_kernel(KernelContext& ctx);
Status isinf_kernel(KernelContext& ctx);
Status isnan_kernel(KernelContext& ctx);
Status clip_kernel(KernelContext& ctx);

// Activations (activations.cc).
Status relu_kernel(KernelContext& ctx);
Status leaky_relu_kernel(KernelContext& ctx);
Status elu_kernel(KernelContext& ctx);
Status selu_kernel(KernelContext& ctx);
Status celu_kernel(KernelContext& ctx);
Status gelu_kernel(KernelContext& ctx);
Status hard_sigmoid_kernel(KernelContext& ctx);
Status hard_swish_kernel(KernelContext& ctx);
Status mish_kernel(KernelContext& ctx);
Status sigmoid_kernel(KernelContext& ctx);
Status softplus_kernel(KernelContext& ctx);
Status softsign_kernel(KernelContext& ctx);
Status swish_kernel(KernelContext& ctx);
Status thresholded_relu_kernel(KernelContext& ctx);
Status shrink_kernel(KernelContext& ctx);

// Type conversion (cast.cc).
Status cast_kernel(KernelContext& ctx);
Status cast_like_kernel(KernelContext& ctx);

}  // namespace kiln
