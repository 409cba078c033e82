// Logical, bitwise, classification and clipping reference kernels: Not, BitwiseNot, IsInf, IsNaN, Clip.
#include <algorithm>
#include <cmath>

#include "backends/reference/elementwise_unary/unary_kernels.h"

namespace kiln {

namespace {

// Reads a Clip bound (input `index`) as T; absent inputs leave `*out` untouched.
template <typename T>
Status read_bound(const KernelContext& ctx, size_t index, const char* name, T* out, bool* present) {
  *present = false;
  if (!ctx.has_input(index)) return ok_status();
  KILN_RETURN_IF_ERROR(ctx.require_tensor(index));
  const Tensor& b = ctx.input(index);
  if (b.numel() != 1)
    return ctx.error(std::string("input '") + name + "' must be a scalar (one element), got shape " +
                     dims_to_string(b.dims()));
  if (b.dtype() == DType::kString || b.dtype() == DType::kComplex64 || b.dtype() == DType::kComplex128)
    return ctx.error(std::string("input '") + name + "' has non-numeric dtype " + dtype_name(b.dtype()));
  if constexpr (std::is_floating_point_v<T>)
    *out = static_cast<T>(b.as_double(0));
  else if constexpr (std::is_unsigned_v<T>)
    *out = static_cast<T>(b.dtype() == DType::kUInt64 ? b.data<uint64_t>()[0] : b.as_int64(0));
  else
    *out = static_cast<T>(b.as_int64(0));
  *present = true;
  return ok_status();
}

template <typename T>
Status clip_typed(KernelContext& ctx, const Tensor& x, Tensor* out) {
  T lo{}, hi{};
  bool has_lo, has_hi;
  KILN_RETURN_IF_ERROR(read_bound(ctx, 1, "min", &lo, &has_lo));
  KILN_RETURN_IF_ERROR(read_bound(ctx, 2, "max", &hi, &has_hi));
  const T* in = x.data<T>();
  T* o = out->data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    T v = in[i];
    // max(x, min) then min(., max): when min > max every element becomes max (numpy.clip semantics).
    if (has_lo && v < lo) v = lo;
    if (has_hi && v > hi) v = hi;
    o[i] = v;
  }
  return ok_status();
}

// Applies `pred` to every element of a float tensor (any float dtype, read exactly as double).
template <typename P>
Status classify_float(KernelContext& ctx, P pred) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("input dtype ") + dtype_name(x.dtype()) +
                           " is not supported (expected a float type)");
  Tensor out(DType::kBool, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<uint8_t>()[i] = pred(x.as_double(i)) ? 1 : 0;
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace

Status not_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kBool) return ctx.error(std::string("input must be bool, got ") + dtype_name(x.dtype()));
  Tensor out(DType::kBool, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<uint8_t>()[i] = x.data<uint8_t>()[i] ? 0 : 1;
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status bitwise_not_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  Tensor out(x.dtype(), x.dims());
  Status st = dispatch_dtype(x.dtype(), DispatchSet{false, true, false}, [&]<typename T>() {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      for (int64_t i = 0; i < x.numel(); ++i) out.data<T>()[i] = static_cast<T>(~x.data<T>()[i]);
    }
  });
  if (!st.ok()) return ctx.unsupported("input " + st.message() + " (expected an integer type)");
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status isinf_kernel(KernelContext& ctx) {
  const bool neg = ctx.attrs().get_int("detect_negative", 1) != 0;
  const bool pos = ctx.attrs().get_int("detect_positive", 1) != 0;
  return classify_float(ctx, [&](double v) { return std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg)); });
}

Status isnan_kernel(KernelContext& ctx) {
  return classify_float(ctx, [](double v) { return std::isnan(v); });
}

Status clip_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const DType t = x.dtype();
  if (t == DType::kFloat16 || t == DType::kBFloat16) {
    Tensor xf = to_float32(x);
    Tensor out(DType::kFloat32, x.dims());
    KILN_RETURN_IF_ERROR(clip_typed<float>(ctx, xf, &out));
    ctx.set_output(0, from_float32(out, t));
    return ok_status();
  }
  Tensor out(t, x.dims());
  Status inner = ok_status();
  Status st = dispatch_dtype(t, DispatchSet{}, [&]<typename T>() { inner = clip_typed<T>(ctx, x, &out); });
  if (!st.ok()) return ctx.unsupported("input " + st.message());
  KILN_RETURN_IF_ERROR(inner);
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
