// Reference kernel for Pow: base and exponent may have different numeric dtypes; the output has the base's.
#include <cmath>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

namespace {

// Integer power with wrap-around; negative exponents truncate 1/base^|e| toward zero.
template <typename T>
T int_pow(T base, int64_t e) {
  if (e < 0) {
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (base == T(-1)) return (e % 2 == 0) ? T(1) : T(-1);
    }
    return T(0);  // includes 0^negative, which has no integer value
  }
  T result = T(1);
  T b = base;
  while (e > 0) {
    if (e & 1) result = wrap_mul(result, b);
    b = wrap_mul(b, b);
    e >>= 1;
  }
  return result;
}

}  // namespace

Status pow_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& a = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(Tensor b, legacy_broadcast_operand(ctx, a, ctx.input(1)));
  const DType base_t = a.dtype(), exp_t = b.dtype();
  auto numeric = [](DType t) { return t != DType::kBool && t != DType::kString && (is_float(t) || is_integer(t)); };
  if (!numeric(base_t) || !numeric(exp_t))
    return ctx.unsupported(std::string("Pow does not support base dtype ") + dtype_name(base_t) +
                           " with exponent dtype " + dtype_name(exp_t));
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&a, &b}, &out_dims));
  const std::vector<int64_t> ma = broadcast_index_map(a.dims(), out_dims);
  const std::vector<int64_t> mb = broadcast_index_map(b.dims(), out_dims);
  const int64_t n = dims_numel(out_dims);

  if (is_float(base_t)) {
    // Computed in double, then rounded to the base dtype.
    KILN_ASSIGN_OR_RETURN(Tensor out64, allocate_output(ctx, DType::kFloat64, out_dims));
    double* o = out64.data<double>();
    for (int64_t k = 0; k < n; ++k) o[k] = std::pow(a.as_double(ma[k]), b.as_double(mb[k]));
    if (base_t == DType::kFloat64) {
      ctx.set_output(0, std::move(out64));
    } else {
      KILN_ASSIGN_OR_RETURN(Tensor out32, allocate_output(ctx, DType::kFloat32, out_dims));
      for (int64_t k = 0; k < n; ++k) out32.data<float>()[k] = static_cast<float>(o[k]);
      ctx.set_output(0, from_float32(out32, base_t));
    }
    return ok_status();
  }

  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, base_t, out_dims));
  const bool int_exp = is_integer(exp_t);
  Status st = dispatch_dtype(base_t, DispatchSet{false, true, false}, [&]<typename T>() {
    if constexpr (std::is_integral_v<T>) {
      const T* pa = a.data<T>();
      T* po = out.data<T>();
      for (int64_t k = 0; k < n; ++k) {
        if (int_exp) {
          po[k] = int_pow<T>(pa[ma[k]], b.as_int64(mb[k]));
        } else {
          po[k] = saturating_cast<T>(std::pow(static_cast<double>(pa[ma[k]]), b.as_double(mb[k])));
        }
      }
    }
  });
  if (!st.ok()) return ctx.unsupported("Pow: " + st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
