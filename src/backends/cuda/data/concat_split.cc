// CUDA Concat and Split over [outer rows, contiguous bytes] views: one row-concat launch per 8 inputs, a vectorized
// strided copy per Split output, or plain copies when there is one row.
#include <algorithm>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/op_params.h"

namespace kiln::cuda {

namespace {

// Copies `rows` rows of `width` bytes between pitched buffers on the context's stream.
Status copy_rows(CudaKernelContext& ctx, void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                 int64_t rows) {
  if (width == 0 || rows == 0) return ok_status();
  cudaError_t e =
      rows == 1 ? cudaMemcpyAsync(dst, src, width, cudaMemcpyDeviceToDevice, ctx.stream())
                : cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice, ctx.stream());
  return launch_status(ctx, e, "block copy");
}

}  // namespace

Status run_concat(CudaKernelContext& ctx) {
  const size_t k = ctx.num_inputs();
  if (k == 0) return ctx.error("Concat needs at least one input");
  const Dims& first = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const int64_t r = static_cast<int64_t>(first.size());
  if (r == 0) return ctx.error("Concat inputs must have rank >= 1 (input 0 is a scalar)");
  auto axis_or = concat_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims out_dims = first;
  out_dims[axis] = 0;
  for (size_t i = 0; i < k; ++i) {
    const Dims& d = ctx.input_dims(i);
    if (ctx.input_dtype(i) != dt)
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected " +
                       dtype_name(dt));
    bool ok = d.size() == first.size();
    for (int64_t a = 0; ok && a < r; ++a) ok = a == axis || d[a] == first[a];
    if (!ok)
      return ctx.error("input " + std::to_string(i) + " has shape " + dims_to_string(d) +
                       ", incompatible with input 0 shape " + dims_to_string(first) + " on axis " +
                       std::to_string(axis));
    out_dims[axis] += d[axis];
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  const size_t es = dtype_size(dt);
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= out_dims[a];
  for (int64_t a = axis + 1; a < r; ++a) inner *= out_dims[a];
  std::vector<const void*> srcs;
  std::vector<int64_t> rows;
  for (size_t i = 0; i < k; ++i) {
    const int64_t row = ctx.input_dims(i)[axis] * inner * static_cast<int64_t>(es);
    if (row == 0) continue;
    KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(i));
    srcs.push_back(in.data);
    rows.push_back(row);
  }
  if (outer > 1)  // channels-last concats have a row per pixel: one kernel, not a pitched copy of narrow rows
    return launch_status(ctx,
                         launch_concat_rows(out.data, srcs.data(), rows.data(), static_cast<int>(srcs.size()), outer,
                                            ctx.stream()),
                         "Concat");
  size_t offset = 0;
  for (size_t i = 0; i < srcs.size(); ++i) {
    KILN_RETURN_IF_ERROR(copy_rows(ctx, static_cast<char*>(out.data) + offset, 0, srcs[i], 0, rows[i], 1));
    offset += static_cast<size_t>(rows[i]);
  }
  return ok_status();
}

Status run_split(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis;
  KILN_RETURN_IF_ERROR(normalize_axis(ctx, ctx.attrs().get_int("axis", 0), r, &axis));
  const int64_t dim = x[axis];
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "split", &split));
    if (static_cast<int64_t>(split.size()) != n_out)
      return ctx.error("split has " + std::to_string(split.size()) + " entries but the node has " +
                       std::to_string(n_out) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.error("split " + ints_str(split) + " has a negative entry");
      sum += s;
    }
    if (sum != dim)
      return ctx.error("split " + ints_str(split) + " sums to " + std::to_string(sum) + " but axis " +
                       std::to_string(axis) + " has size " + std::to_string(dim));
  } else {
    const int64_t parts = ctx.attrs().get_int("num_outputs", n_out);
    if (parts != n_out || parts <= 0)
      return ctx.error("num_outputs " + std::to_string(parts) + " does not match the node's " + std::to_string(n_out) +
                       " outputs");
    if (ctx.attrs().has("num_outputs")) {
      const int64_t chunk = (dim + parts - 1) / parts;
      for (int64_t i = 0; i < parts; ++i) split.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
    } else {
      if (dim % parts != 0)
        return ctx.error("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                         " cannot be split evenly into " + std::to_string(parts) + " outputs");
      split.assign(parts, dim / parts);
    }
  }
  const size_t es = dtype_size(dt);
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= x[a];
  for (int64_t a = axis + 1; a < r; ++a) inner *= x[a];
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  const size_t in_row = static_cast<size_t>(dim * inner) * es;
  size_t offset = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    Dims od = x;
    od[axis] = split[i];
    KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(i, dt, od));
    const size_t row = static_cast<size_t>(split[i] * inner) * es;
    if (out.numel() > 0 && outer > 1) {
      // Rows of this output read at the input's row pitch: the strided copy moves them as vectors.
      StridedDesc d;
      d.rank = 2;
      d.dims[0] = outer;
      d.dims[1] = split[i] * inner;
      d.strides[0] = dim * inner;
      d.strides[1] = 1;
      d.base = static_cast<int64_t>(offset / es);
      KILN_RETURN_IF_ERROR(launch_status(
          ctx, launch_strided_copy(es, in.data, out.data, d, out.numel(), ctx.stream()), "Split"));
    } else if (out.numel() > 0) {
      KILN_RETURN_IF_ERROR(
          copy_rows(ctx, out.data, row, static_cast<const char*>(in.data) + offset, in_row, row, outer));
    }
    offset += row;
  }
  return ok_status();
}

}  // namespace kiln::cuda
