// CUDA Gather, GatherElements, GatherND, ScatterElements and ScatterND (host side).
// Index validation: constant index tensors are checked on the host once per context (out_of_range like the
// reference backend); runtime indices cannot be checked synchronously, so out-of-range ones read zeros
// (gathers) or are skipped (scatters).
#include <memory>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/op_params.h"

namespace kiln::cuda {

namespace {

// Checks constant index input `i` once: every value in [-dim(k), dim(k)) where dim_of(k) gives the bound of
// index element k. The result is cached in node_state (constant inputs never change).
template <typename F>
Status validate_constant_indices(CudaKernelContext& ctx, size_t i, const char* op, F dim_of) {
  if (!ctx.input_is_constant(i)) return ok_status();
  std::shared_ptr<void>& state = ctx.node_state();
  if (state) return ok_status();
  KILN_ASSIGN_OR_RETURN(Tensor t, ctx.host_input(i));
  for (int64_t k = 0; k < t.numel(); ++k) {
    const int64_t v = t.as_int64(k), dim = dim_of(k);
    if (v < -dim || v >= dim)
      return out_of_range(ctx.node().describe() + ": " + op + " index " + std::to_string(v) +
                          " is out of range for a dimension of size " + std::to_string(dim));
  }
  state = std::make_shared<bool>(true);
  return ok_status();
}

Status check_index_dtype(const CudaKernelContext& ctx, size_t i) {
  const DType t = ctx.input_dtype(i);
  if (t != DType::kInt32 && t != DType::kInt64)
    return ctx.error(std::string("indices must be int32 or int64, got ") + dtype_name(t));
  return ok_status();
}

int reduction_of(const CudaKernelContext& ctx) {
  const std::string r = ctx.attrs().get_string("reduction", "none");
  return r == "none" ? 0 : (r == "add" ? 1 : -1);
}

bool add_capable(DType t) { return is_float_dtype(t) || t == DType::kInt32 || t == DType::kInt64; }

// Shared setup of GatherElements / ScatterElements: axis, shape checks and the descriptor.
Status elements_desc(const CudaKernelContext& ctx, const Dims& x, const Dims& ind, ElementsDesc* d) {
  const int64_t r = static_cast<int64_t>(x.size());
  if (r == 0 || static_cast<int64_t>(ind.size()) != r)
    return ctx.error("indices rank " + std::to_string(ind.size()) + " must equal data rank " + std::to_string(r) +
                     " (>= 1)");
  if (r > kMaxDims) return ctx.unsupported("rank above " + std::to_string(kMaxDims));
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  for (int64_t a = 0; a < r; ++a)
    if (a != axis && ind[a] > x[a])
      return ctx.error("indices shape " + dims_to_string(ind) + " exceeds data shape " + dims_to_string(x) +
                       " on axis " + std::to_string(a));
  d->rank = static_cast<int>(r);
  d->axis = static_cast<int>(axis);
  d->axis_dim = x[axis];
  int64_t s = 1;
  for (int64_t a = r - 1; a >= 0; --a) {
    d->idx_dims[a] = ind[a];
    d->data_strides[a] = s;
    s *= x[a];
  }
  return ok_status();
}

}  // namespace

Status run_gather(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  const Dims& ind = ctx.input_dims(1);
  const int64_t r = static_cast<int64_t>(x.size());
  if (r == 0) return ctx.error("data must have rank >= 1");
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims out_dims(x.begin(), x.begin() + axis);
  out_dims.insert(out_dims.end(), ind.begin(), ind.end());
  out_dims.insert(out_dims.end(), x.begin() + axis + 1, x.end());
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= x[a];
  for (int64_t a = axis + 1; a < r; ++a) inner *= x[a];
  const int64_t dim = x[axis];
  KILN_RETURN_IF_ERROR(validate_constant_indices(ctx, 1, "Gather", [&](int64_t) { return dim; }));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(1));
  return launch_status(ctx,
                       launch_gather(dtype_size(dt), in.data, idx.data, idx.dtype == DType::kInt64, out.data, outer,
                                     dim, idx.numel(), inner, ctx.stream()),
                       "Gather");
}

Status run_gather_elements(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  const Dims& ind = ctx.input_dims(1);
  ElementsDesc d;
  KILN_RETURN_IF_ERROR(elements_desc(ctx, x, ind, &d));
  KILN_RETURN_IF_ERROR(validate_constant_indices(ctx, 1, "GatherElements", [&](int64_t) { return d.axis_dim; }));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, ind));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(1));
  return launch_status(ctx,
                       launch_gather_elements(dtype_size(dt), in.data, idx.data, idx.dtype == DType::kInt64, out.data,
                                              d, out.numel(), ctx.stream()),
                       "GatherElements");
}

namespace {

// GatherND/ScatterND descriptor for data dims x, index dims ind and batch_dims b.
Status nd_desc(const CudaKernelContext& ctx, const Dims& x, const Dims& ind, int64_t b, NdDesc* d, int64_t* tuples) {
  const int64_t r = static_cast<int64_t>(x.size()), q = static_cast<int64_t>(ind.size());
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return ctx.error("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t a = 0; a < b; ++a)
    if (x[a] != ind[a])
      return ctx.error("batch dimension " + std::to_string(a) + " differs: data " + dims_to_string(x) + ", indices " +
                       dims_to_string(ind));
  const int64_t last = ind[q - 1];
  if (last < 1 || last > r - b)
    return ctx.error("indices last dimension " + std::to_string(last) + " must be in [1, " + std::to_string(r - b) +
                     "]");
  if (last > kMaxDims) return ctx.unsupported("index tuples longer than " + std::to_string(kMaxDims));
  std::vector<int64_t> strides(r);
  int64_t s = 1;
  for (int64_t a = r - 1; a >= 0; --a) {
    strides[a] = s;
    s *= x[a];
  }
  d->k = static_cast<int>(last);
  for (int64_t j = 0; j < last; ++j) {
    d->dims[j] = x[b + j];
    d->strides[j] = strides[b + j];
  }
  d->slice = 1;
  for (int64_t a = b + last; a < r; ++a) d->slice *= x[a];
  int64_t batch = 1;
  for (int64_t a = 0; a < b; ++a) batch *= x[a];
  *tuples = numel_of(ind) / last;
  d->tuples_per_batch = batch > 0 && *tuples > 0 ? *tuples / batch : 1;
  d->batch_stride = b > 0 ? strides[b - 1] : 0;
  return ok_status();
}

}  // namespace

Status run_gather_nd(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  const Dims& ind = ctx.input_dims(1);
  const int64_t b = ctx.attrs().get_int("batch_dims", 0);
  NdDesc d;
  int64_t tuples;
  KILN_RETURN_IF_ERROR(nd_desc(ctx, x, ind, b, &d, &tuples));
  KILN_RETURN_IF_ERROR(validate_constant_indices(ctx, 1, "GatherND", [&](int64_t k) { return d.dims[k % d.k]; }));
  Dims out_dims(ind.begin(), ind.end() - 1);
  out_dims.insert(out_dims.end(), x.begin() + b + d.k, x.end());
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(1));
  return launch_status(ctx,
                       launch_gather_nd(dtype_size(dt), in.data, idx.data, idx.dtype == DType::kInt64, out.data, d,
                                        tuples, ctx.stream()),
                       "GatherND");
}

bool supports_scatter(const Node& node, const std::vector<const TypeInfo*>& types) {
  const std::string r = node.attrs.get_string("reduction", "none");
  const DType t = type_dtype(types, 0);
  if (r == "none") return t == DType::kUndefined || movable_dtype(t);
  if (r == "add") return t == DType::kUndefined || add_capable(t);
  return false;
}

Status run_scatter_elements(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  const int red = reduction_of(ctx);
  if (red < 0 || (red == 0 && !movable_dtype(dt)) || (red == 1 && !add_capable(dt)))
    return ctx.unsupported("reduction '" + ctx.attrs().get_string("reduction", "none") + "' on dtype " +
                           dtype_name(dt) + " on CUDA");
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  if (ctx.input_dtype(2) != dt)
    return ctx.error(std::string("updates have dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " +
                     dtype_name(dt));
  const Dims& ind = ctx.input_dims(1);
  if (ctx.input_dims(2) != ind)
    return ctx.error("updates shape " + dims_to_string(ctx.input_dims(2)) + " must equal indices shape " +
                     dims_to_string(ind));
  ElementsDesc d;
  KILN_RETURN_IF_ERROR(elements_desc(ctx, x, ind, &d));
  KILN_RETURN_IF_ERROR(validate_constant_indices(ctx, 1, "ScatterElements", [&](int64_t) { return d.axis_dim; }));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, x));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_RETURN_IF_ERROR(launch_status(
      ctx, cudaMemcpyAsync(out.data, in.data, out.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()), "copy"));
  if (numel_of(ind) == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor upd, ctx.input(2));
  return launch_status(ctx,
                       launch_scatter_elements(dt, out.data, idx.data, idx.dtype == DType::kInt64, upd.data, d,
                                               idx.numel(), red, ctx.stream()),
                       "ScatterElements");
}

Status run_scatter_nd(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  const int red = reduction_of(ctx);
  if (red < 0 || (red == 0 && !movable_dtype(dt)) || (red == 1 && !add_capable(dt)))
    return ctx.unsupported("reduction '" + ctx.attrs().get_string("reduction", "none") + "' on dtype " +
                           dtype_name(dt) + " on CUDA");
  KILN_RETURN_IF_ERROR(check_index_dtype(ctx, 1));
  if (ctx.input_dtype(2) != dt)
    return ctx.error(std::string("updates have dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " +
                     dtype_name(dt));
  const Dims& ind = ctx.input_dims(1);
  NdDesc d;
  int64_t tuples;
  KILN_RETURN_IF_ERROR(nd_desc(ctx, x, ind, 0, &d, &tuples));
  Dims want(ind.begin(), ind.end() - 1);
  want.insert(want.end(), x.begin() + d.k, x.end());
  if (ctx.input_dims(2) != want)
    return ctx.error("updates shape " + dims_to_string(ctx.input_dims(2)) + " must be " + dims_to_string(want));
  KILN_RETURN_IF_ERROR(validate_constant_indices(ctx, 1, "ScatterND", [&](int64_t k) { return d.dims[k % d.k]; }));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, x));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_RETURN_IF_ERROR(launch_status(
      ctx, cudaMemcpyAsync(out.data, in.data, out.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream()), "copy"));
  if (tuples == 0 || d.slice == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor idx, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor upd, ctx.input(2));
  return launch_status(
      ctx,
      launch_scatter_nd(dt, out.data, idx.data, idx.dtype == DType::kInt64, upd.data, d, tuples, red, ctx.stream()),
      "ScatterND");
}

}  // namespace kiln::cuda
