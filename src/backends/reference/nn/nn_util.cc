// Shared nn kernel helpers: double-precision element I/O and conv/pool window geometry.
#include "backends/reference/nn/nn_util.h"

#include <cmath>


namespace kiln {
namespace nn {

std::vector<double> read_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat32) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<float>()[i];
  } else if (t.dtype() == DType::kFloat64) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<double>()[i];
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_double(i);
  }
  return v;
}

Result<Tensor> make_tensor(DType dt, const Dims& dims, const std::vector<double>& v) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dt, dims));
  const int64_t n = out.numel();
  if (dt == DType::kFloat64) {
    for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = v[i];
    return out;
  }
  if (is_float(dt)) {
    Tensor f(DType::kFloat32, dims);
    for (int64_t i = 0; i < n; ++i) f.data<float>()[i] = static_cast<float>(v[i]);
    return from_float32(f, dt);
  }
  Status st = dispatch_dtype(dt, DispatchSet{false, true, true}, [&]<typename T>() {
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        reinterpret_cast<uint8_t*>(o)[i] = v[i] != 0 ? 1 : 0;
      } else {
        o[i] = static_cast<T>(v[i]);
      }
    }
  });
  if (!st.ok()) return st;
  return out;
}

Result<Tensor> alloc(const KernelContext& ctx, DType dt, const Dims& dims) {
  for (int64_t d : dims)
    if (d < 0) return ctx.error("computed output shape " + dims_str(dims) + " has a negative dimension");
  auto r = Tensor::allocate(dt, dims);
  if (!r.ok()) return ctx.error("cannot allocate output of shape " + dims_str(dims) + ": " + r.status().message());
  return r;
}

bool is_basic_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16;
}

Status require_float(const KernelContext& ctx, size_t i, const char* name) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  DType t = ctx.input(i).dtype();
  if (!is_basic_float(t))
    return ctx.unsupported(std::string("input ") + name + " has dtype " + dtype_name(t) +
                           "; expected float16, bfloat16, float32 or float64");
  return ok_status();
}

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Status compute_window(const KernelContext& ctx, const Dims& in, const Dims& kernel, bool ceil_mode, Window* w) {
  auto r = resolve_window(ctx.attrs(), in, kernel, ceil_mode);
  if (!r.ok()) return ctx.error(r.status().message());
  *w = std::move(*r);
  return ok_status();
}

}  // namespace nn
}  // namespace kiln
