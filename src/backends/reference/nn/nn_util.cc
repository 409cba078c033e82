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
  const size_t nd = in.size();
  w->nd = nd;
  w->in = in;
  w->kernel = kernel;
  if (kernel.size() != nd)
    return ctx.error("kernel has " + std::to_string(kernel.size()) + " spatial dims; input has " + std::to_string(nd));
  for (int64_t k : kernel)
    if (k <= 0) return ctx.error("kernel_shape " + dims_str(kernel) + " must be positive");
  w->strides = ctx.attrs().get_ints("strides", Dims(nd, 1));
  w->dilations = ctx.attrs().get_ints("dilations", Dims(nd, 1));
  if (w->strides.empty()) w->strides = Dims(nd, 1);
  if (w->dilations.empty()) w->dilations = Dims(nd, 1);
  if (w->strides.size() != nd) return ctx.error("strides has " + std::to_string(w->strides.size()) + " values; expected " + std::to_string(nd));
  if (w->dilations.size() != nd)
    return ctx.error("dilations has " + std::to_string(w->dilations.size()) + " values; expected " + std::to_string(nd));
  for (size_t i = 0; i < nd; ++i) {
    if (w->strides[i] <= 0) return ctx.error("strides " + dims_str(w->strides) + " must be positive");
    if (w->dilations[i] <= 0) return ctx.error("dilations " + dims_str(w->dilations) + " must be positive");
  }
  std::string auto_pad = ctx.attrs().get_string("auto_pad", "NOTSET");
  w->out.assign(nd, 0);
  w->pads.assign(2 * nd, 0);
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < nd; ++i) {
      int64_t out = (in[i] + w->strides[i] - 1) / w->strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * w->strides[i] + w->eff_kernel(i) - in[i]);
      int64_t small = total / 2;
      w->pads[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w->pads[nd + i] = total - w->pads[i];
      w->out[i] = out;
    }
    return ok_status();
  }
  if (auto_pad == "VALID") {
    // pads stay 0
  } else if (auto_pad == "NOTSET" || auto_pad.empty()) {
    Dims p = ctx.attrs().get_ints("pads", Dims(2 * nd, 0));
    if (p.empty()) p = Dims(2 * nd, 0);
    if (p.size() != 2 * nd)
      return ctx.error("pads has " + std::to_string(p.size()) + " values; expected " + std::to_string(2 * nd));
    for (int64_t v : p)
      if (v < 0) return ctx.error("pads " + dims_str(p) + " must be non-negative");
    w->pads = p;
  } else {
    return ctx.error("auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  for (size_t i = 0; i < nd; ++i) {
    int64_t span = in[i] + w->pads[i] + w->pads[nd + i] - w->eff_kernel(i);
    if (span < 0)
      return ctx.error("kernel extent " + std::to_string(w->eff_kernel(i)) + " exceeds padded input size " +
                       std::to_string(in[i] + w->pads[i] + w->pads[nd + i]) + " on spatial axis " + std::to_string(i));
    int64_t out = span / w->strides[i] + 1;
    if (ceil_mode) {
      out = (span + w->strides[i] - 1) / w->strides[i] + 1;
      if ((out - 1) * w->strides[i] >= in[i] + w->pads[i]) --out;
    }
    w->out[i] = out;
  }
  return ok_status();
}

}  // namespace nn
}  // namespace kiln
