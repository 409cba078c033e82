// Shared nn kernel helpers: double-precision element I/O and conv/pool window geometry.
#include "backends/reference/nn/nn_util.h"

#include <cmath>
#include <cstring>

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

Result<Tensor> permute(const Tensor& in, const std::vector<size_t>& perm) {
  Dims od(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) od[d] = in.dim(perm[d]);
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(in.dtype(), od));
  const size_t es = dtype_size(in.dtype());
  const auto in_strides = strides_of(in.dims());
  std::vector<int64_t> src_strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) src_strides[d] = in_strides[perm[d]];
  const auto* src = static_cast<const unsigned char*>(in.raw());
  auto* dst = static_cast<unsigned char*>(out.raw());
  int64_t k = 0;
  for_each_index(od, [&](const std::vector<int64_t>& idx, int64_t) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * src_strides[d];
    std::memcpy(dst + static_cast<size_t>(k++) * es, src + static_cast<size_t>(off) * es, es);
  });
  return out;
}

Status run_channels_last(KernelContext& ctx, const std::vector<size_t>& channels_last_inputs,
                         const std::function<Status(KernelContext&)>& inner) {
  const std::string layout = ctx.attrs().get_string("layout", "NCHW");
  if (layout == "NCHW") return inner(ctx);
  if (layout != "NHWC") return ctx.error("layout must be NCHW or NHWC, got '" + layout + "'");
  std::vector<Value> moved(ctx.num_inputs());
  std::vector<const Value*> ins(ctx.num_inputs(), nullptr);
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) ins[i] = &ctx.input_value(i);
  for (size_t i : channels_last_inputs) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    const Tensor& t = ctx.input(i);
    if (t.rank() < 3)
      return ctx.error("input " + std::to_string(i) + " must have rank >= 3 (N, spatial..., C); got " +
                       dims_str(t.dims()));
    std::vector<size_t> to_first{0, t.rank() - 1};
    for (size_t d = 1; d + 1 < t.rank(); ++d) to_first.push_back(d);
    KILN_ASSIGN_OR_RETURN(Tensor p, permute(t, to_first));
    moved[i] = Value::of(std::move(p));
    ins[i] = &moved[i];
  }
  Node plain = ctx.node();
  plain.attrs.erase("layout");
  KernelContext inner_ctx(plain, ins,
                          [&ctx](const Graph& g, const std::vector<Value>& v) { return ctx.run_subgraph(g, v); });
  KILN_RETURN_IF_ERROR(inner(inner_ctx));
  const Tensor& y = inner_ctx.outputs()[0].tensor;
  std::vector<size_t> to_last{0};
  for (size_t d = 2; d < y.rank(); ++d) to_last.push_back(d);
  to_last.push_back(1);
  KILN_ASSIGN_OR_RETURN(Tensor yl, permute(y, to_last));
  ctx.set_output(0, std::move(yl));
  return ok_status();
}

}  // namespace nn
}  // namespace kiln
