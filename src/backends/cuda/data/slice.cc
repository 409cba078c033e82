// CUDA Slice, Expand and Tile: each output element reads one strided input element (strided_copy).
#include <algorithm>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/shape_rules.h"

namespace kiln::cuda {

namespace {

// out (dims) [c] = in[base + sum c_r * strides[r]] (with c_r % mods[r] where mods[r] > 0), after dropping
// size-1 dims and merging mergeable neighbours; a plain memcpy when the read is contiguous.
Status strided_copy(CudaKernelContext& ctx, const void* in, void* out, size_t es, const Dims& dims,
                    const std::vector<int64_t>& strides, const std::vector<int64_t>& mods, int64_t base) {
  const int64_t n = numel_of(dims);
  if (n == 0) return ok_status();
  std::vector<int64_t> d, s, m;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 1) continue;
    const int64_t mod = mods.empty() ? 0 : mods[i];
    if (!d.empty() && mod == 0 && m.back() == 0 && s.back() == strides[i] * dims[i]) {
      d.back() *= dims[i];
      s.back() = strides[i];
    } else {
      d.push_back(dims[i]);
      s.push_back(strides[i]);
      m.push_back(mod);
    }
  }
  const char* src = static_cast<const char*>(in) + base * static_cast<int64_t>(es);
  if (d.empty() || (d.size() == 1 && s[0] == 1 && m[0] == 0))
    return launch_status(ctx, cudaMemcpyAsync(out, src, n * es, cudaMemcpyDeviceToDevice, ctx.stream()), "copy");
  if (d.size() > static_cast<size_t>(kMaxDims))
    return ctx.unsupported("strided copy needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
  StridedDesc desc;
  desc.rank = static_cast<int>(d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    desc.dims[i] = d[i];
    desc.strides[i] = s[i];
    desc.mods[i] = m[i];
  }
  desc.base = base;
  return launch_status(ctx, launch_strided_copy(es, in, out, desc, n, ctx.stream()), "strided copy");
}

std::vector<int64_t> contiguous_strides(const Dims& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

}  // namespace

Status run_slice(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const int64_t r = static_cast<int64_t>(x.size());
  std::vector<int64_t> starts, ends, axes, steps;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "starts", &starts));
  KILN_RETURN_IF_ERROR(read_ints(ctx, 2, "ends", &ends));
  if (starts.size() != ends.size())
    return ctx.error("starts has " + std::to_string(starts.size()) + " entries but ends has " +
                     std::to_string(ends.size()));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(read_ints(ctx, 3, "axes", &axes));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(4)) {
    KILN_RETURN_IF_ERROR(read_ints(ctx, 4, "steps", &steps));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length");
  std::vector<int64_t> first(r, 0), step(r, 1);
  Dims out_dims = x;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a;
    KILN_RETURN_IF_ERROR(normalize_axis(ctx, axes[i], r, &a));
    if (seen[a]) return ctx.error("axes " + ints_str(axes) + " contain a duplicate");
    seen[a] = true;
    const int64_t d = x[a], s = steps[i];
    if (s == 0) return ctx.error("steps must be nonzero");
    const SliceRange range = slice_range(starts[i], ends[i], s, d);
    first[a] = range.first;
    step[a] = s;
    out_dims[a] = range.count;
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  const std::vector<int64_t> in_strides = contiguous_strides(x);
  std::vector<int64_t> strides(r);
  int64_t base = 0;
  for (int64_t a = 0; a < r; ++a) {
    strides[a] = in_strides[a] * step[a];
    base += first[a] * in_strides[a];
  }
  return strided_copy(ctx, in.data, out.data, dtype_size(dt), out_dims, strides, {}, base);
}

Status run_expand(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "shape", &shape));
  for (int64_t d : shape)
    if (d < 0) return ctx.error("shape " + ints_str(shape) + " has a negative dimension");
  Dims out_dims;
  if (!broadcast_dims({x, shape}, &out_dims))
    return ctx.error("input shape " + dims_to_string(x) + " cannot be expanded to " + ints_str(shape));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  // Strides of x aligned to the right of out_dims, 0 on broadcast dims.
  const std::vector<int64_t> xs = contiguous_strides(x);
  std::vector<int64_t> strides(out_dims.size(), 0);
  const size_t off = out_dims.size() - x.size();
  for (size_t j = 0; j < x.size(); ++j) strides[off + j] = x[j] == 1 ? 0 : xs[j];
  return strided_copy(ctx, in.data, out.data, dtype_size(dt), out_dims, strides, {}, 0);
}

Status run_tile(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  if (ctx.node().opset > 0 && ctx.node().opset < 6) return ctx.unsupported("Tile-1 on CUDA");
  const int64_t r = static_cast<int64_t>(x.size());
  std::vector<int64_t> repeats;
  KILN_RETURN_IF_ERROR(read_ints(ctx, 1, "repeats", &repeats));
  if (static_cast<int64_t>(repeats.size()) != r)
    return ctx.error("repeats has " + std::to_string(repeats.size()) + " entries but the input has rank " +
                     std::to_string(r));
  Dims out_dims(r);
  for (int64_t a = 0; a < r; ++a) {
    if (repeats[a] < 0) return ctx.error("repeats " + ints_str(repeats) + " has a negative entry");
    out_dims[a] = x[a] * repeats[a];
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  if (out.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  std::vector<int64_t> mods(r);
  for (int64_t a = 0; a < r; ++a) mods[a] = repeats[a] == 1 ? 0 : x[a];
  return strided_copy(ctx, in.data, out.data, dtype_size(dt), out_dims, contiguous_strides(x), mods, 0);
}

}  // namespace kiln::cuda
