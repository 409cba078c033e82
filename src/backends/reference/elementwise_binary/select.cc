// Reference kernels for PRelu (slope broadcast unidirectionally to X) and Where (three-way broadcast select).
#include <cstring>

#include "backends/reference/elementwise_binary/binary_common.h"
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

Status prelu_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  const Tensor& x = ctx.input(0);
  Tensor slope = ctx.input(1);
  if (ctx.opset() < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) && slope.dim(0) != 1) {
    // PRelu-1/6: a 1-D slope holds one value per channel (axis 1).
    Dims d(x.rank() - 1, 1);
    d[0] = slope.dim(0);
    slope = slope.reshaped(d);
  }
  Dims out_dims;
  const bool fits = broadcast_dims(x.dims(), slope.dims(), &out_dims) && out_dims == x.dims();
  if (!fits)
    return ctx.error("slope shape [" + dims_to_string(slope.dims()) + "] cannot be broadcast to X shape [" +
                     dims_to_string(x.dims()) + "]");
  const DType dt = x.dtype();
  if (is_narrow_float(dt)) {
    Tensor xf = to_float32(x), sf = to_float32(slope);
    KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, DType::kFloat32, x.dims()));
    broadcast_binary<float, float, float>(xf, sf, out, [](float v, float s) { return v < 0 ? v * s : v; });
    ctx.set_output(0, from_float32(out, dt));
    return ok_status();
  }
  if (dt == DType::kBool || dt == DType::kString || is_sub_byte(dt))
    return ctx.unsupported(std::string("PRelu does not support dtype ") + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, x.dims()));
  Status st = dispatch_dtype(dt, DispatchSet{}, [&]<typename T>() {
    broadcast_binary<T, T, T>(x, slope, out, [](T v, T s) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        return v < 0 ? v * s : v;
      } else {
        return v < T(0) ? wrap_mul(v, s) : v;
      }
    });
  });
  if (!st.ok()) return ctx.unsupported("PRelu: " + st.message());
  ctx.set_output(0, std::move(out));
  return ok_status();
}

Status where_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(require_same_dtype(ctx, 1, 2));
  const Tensor& cond = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  if (cond.dtype() != DType::kBool)
    return ctx.error(std::string("condition (input 0) must be bool, got ") + dtype_name(cond.dtype()));
  Dims out_dims;
  KILN_RETURN_IF_ERROR(broadcast_all(ctx, {&cond, &x, &y}, &out_dims));
  const DType dt = x.dtype();
  KILN_ASSIGN_OR_RETURN(Tensor out, allocate_output(ctx, dt, out_dims));
  const std::vector<int64_t> mc = broadcast_index_map(cond.dims(), out_dims);
  const std::vector<int64_t> mx = broadcast_index_map(x.dims(), out_dims);
  const std::vector<int64_t> my = broadcast_index_map(y.dims(), out_dims);
  const uint8_t* pc = cond.data<uint8_t>();
  if (dt == DType::kString) {
    for (int64_t k = 0; k < out.numel(); ++k) out.strings()[k] = pc[mc[k]] ? x.strings()[mx[k]] : y.strings()[my[k]];
  } else {
    // Any fixed-size dtype: copy the element's bytes.
    const size_t es = dtype_size(dt);
    const char* px = static_cast<const char*>(x.raw());
    const char* py = static_cast<const char*>(y.raw());
    char* po = static_cast<char*>(out.raw());
    for (int64_t k = 0; k < out.numel(); ++k) {
      const char* src = pc[mc[k]] ? px + mx[k] * es : py + my[k] * es;
      std::memcpy(po + k * es, src, es);
    }
  }
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
