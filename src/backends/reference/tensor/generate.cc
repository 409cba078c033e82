// Reference kernels that generate or accumulate values: ConstantOfShape, Range, OneHot, CumSum.
#include <cmath>

#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"

namespace kiln {

Status constant_of_shape_kernel(KernelContext& ctx) {
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 0, "input", &shape));
  if (ctx.input(0).rank() > 1) return ctx.error("input shape must be 1-D, got " + dims_to_string(ctx.input(0).dims()));
  Tensor value = Tensor::scalar<float>(DType::kFloat32, 0.f);
  if (const Tensor* v = ctx.attrs().get_tensor("value")) {
    if (v->numel() != 1) return ctx.error("attribute 'value' must hold exactly one element, got " + dims_to_string(v->dims()));
    value = *v;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, value.dtype(), shape));
  for (int64_t i = 0; i < out.numel(); ++i) copy_element(value, 0, out, i);
  ctx.set_output(0, out);
  return ok_status();
}

Status range_kernel(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    if (ctx.input(i).numel() != 1) return ctx.error("input " + std::to_string(i) + " must be a scalar");
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) return ctx.error("start, limit and delta must have the same dtype");
  }
  const DType dt = ctx.input(0).dtype();
  if (dt == DType::kString || dt == DType::kBool) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const double start = ctx.input(0).as_double(0), limit = ctx.input(1).as_double(0), delta = ctx.input(2).as_double(0);
  if (delta == 0) return ctx.error("delta must be nonzero");
  const double count = std::ceil((limit - start) / delta);
  if (!(count < static_cast<double>(int64_t{1} << 36)))
    return ctx.error("range has too many elements or is not finite");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, dt, {n}));
  if (is_narrow_float(dt)) {
    Tensor f(DType::kFloat32, {n});
    for (int64_t i = 0; i < n; ++i) f.data<float>()[i] = static_cast<float>(start + i * delta);
    ctx.set_output(0, from_float32(f, dt));
    return ok_status();
  }
  Status st = dispatch_dtype(dt, DispatchSet{}, [&]<typename T>() {
    const T s = ctx.input(0).data<T>()[0], d = ctx.input(2).data<T>()[0];
    for (int64_t i = 0; i < n; ++i) out.data<T>()[i] = static_cast<T>(s + static_cast<T>(i) * d);
  });
  if (!st.ok()) return ctx.unsupported(st.message());
  ctx.set_output(0, out);
  return ok_status();
}

Status one_hot_kernel(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& ind = ctx.input(0);
  const Tensor& depth_t = ctx.input(1);
  const Tensor& values = ctx.input(2);
  if (ind.dtype() == DType::kString || depth_t.dtype() == DType::kString) return ctx.error("indices and depth must be numeric");
  if (depth_t.numel() != 1) return ctx.error("depth must be a scalar");
  if (values.numel() != 2) return ctx.error("values must hold [off_value, on_value], got " + dims_to_string(values.dims()));
  const double depth_f = depth_t.as_double(0);
  if (!(depth_f >= 1) || depth_f > double(int64_t{1} << 36)) return ctx.error("depth must be a positive number, got " + std::to_string(depth_f));
  const int64_t depth = static_cast<int64_t>(depth_f);
  const int64_t r = static_cast<int64_t>(ind.rank()) + 1;
  int64_t axis;
  if (!normalize_axis_index(ctx.attrs().get_int("axis", -1), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", -1)) + " is out of range for output rank " + std::to_string(r));
  Dims out_dims = ind.dims();
  out_dims.insert(out_dims.begin() + axis, depth);
  KILN_RETURN_IF_ERROR(check_output_numel(ctx, out_dims));
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, values.dtype(), out_dims));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < r; ++d) inner *= out_dims[d];
  for (int64_t k = 0; k < out.numel(); ++k) {
    const int64_t pos = (k / inner) % depth;
    const int64_t outer = k / (inner * depth);
    const double v = ind.as_double(outer * inner + k % inner);
    int64_t idx = std::isfinite(v) && std::fabs(v) < 1e18 ? static_cast<int64_t>(v) : -2 * depth;
    if (idx < 0) idx += depth;
    copy_element(values, idx == pos ? 1 : 0, out, k);
  }
  ctx.set_output(0, out);
  return ok_status();
}

namespace {

template <typename T>
void cum_sum_loop(const T* in, T* out, int64_t outer, int64_t dim, int64_t inner, bool exclusive, bool reverse) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      T acc = T(0);
      for (int64_t s = 0; s < dim; ++s) {
        const int64_t j = reverse ? dim - 1 - s : s;
        const int64_t off = (o * dim + j) * inner + i;
        if (exclusive) {
          out[off] = acc;
          acc = static_cast<T>(acc + in[off]);
        } else {
          acc = static_cast<T>(acc + in[off]);
          out[off] = acc;
        }
      }
    }
}

}  // namespace

Status cum_sum_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axis_v;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "axis", &axis_v));
  if (axis_v.size() != 1) return ctx.error("axis must be a scalar");
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis;
  if (!normalize_axis_index(axis_v[0], r, &axis))
    return ctx.error("axis " + std::to_string(axis_v[0]) + " is out of range for rank " + std::to_string(r));
  const bool exclusive = ctx.attrs().get_int("exclusive", 0) != 0, reverse = ctx.attrs().get_int("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const int64_t dim = x.dim(axis);
  if (is_narrow_float(x.dtype())) {
    Tensor xf = to_float32(x);
    Tensor of(DType::kFloat32, x.dims());
    cum_sum_loop(xf.data<float>(), of.data<float>(), outer, dim, inner, exclusive, reverse);
    ctx.set_output(0, from_float32(of, x.dtype()));
    return ok_status();
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, x.dtype(), x.dims()));
  Status st = dispatch_dtype(x.dtype(), DispatchSet{}, [&]<typename T>() {
    cum_sum_loop(x.data<T>(), out.data<T>(), outer, dim, inner, exclusive, reverse);
  });
  if (!st.ok()) return ctx.unsupported(st.message());
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
