// Reference kernels that join or cut tensors along axes: Concat, Split, Slice.
#include <algorithm>

#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"
#include "ir/op_params.h"
#include "ir/shape_rules.h"

namespace kiln {

Status concat_kernel(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    ins.push_back(&ctx.input(i));
  }
  if (ins.empty()) return ctx.error("Concat needs at least one input");
  const Tensor& first = *ins[0];
  const int64_t r = static_cast<int64_t>(first.rank());
  if (r == 0) return ctx.error("Concat inputs must have rank >= 1 (input 0 is a scalar)");
  auto axis_or = concat_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims out_dims = first.dims();
  out_dims[axis] = 0;
  for (size_t i = 0; i < ins.size(); ++i) {
    const Tensor& t = *ins[i];
    if (t.dtype() != first.dtype())
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(t.dtype()) + ", expected " +
                       dtype_name(first.dtype()));
    bool ok = t.rank() == first.rank();
    for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || t.dim(d) == first.dim(d);
    if (!ok)
      return ctx.error("input " + std::to_string(i) + " has shape " + dims_to_string(t.dims()) +
                       ", incompatible with input 0 shape " + dims_to_string(first.dims()) + " on axis " + std::to_string(axis));
    out_dims[axis] += t.dim(axis);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, first.dtype(), out_dims));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_dims[d];
  for (int64_t d = axis + 1; d < r; ++d) inner *= out_dims[d];
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor* t : ins) {
      const int64_t block = t->dim(axis) * inner;
      copy_elements(*t, o * block, out, dst, block);
      dst += block;
    }
  }
  ctx.set_output(0, out);
  return ok_status();
}

Status split_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis;
  if (!normalize_axis_index(ctx.attrs().get_int("axis", 0), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  const int64_t dim = x.dim(axis);
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "split", &split));
    if (static_cast<int64_t>(split.size()) != n_out)
      return ctx.error("split has " + std::to_string(split.size()) + " entries but the node has " +
                       std::to_string(n_out) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.error("split " + ints_to_string(split) + " has a negative entry");
      sum += s;
    }
    if (sum != dim)
      return ctx.error("split " + ints_to_string(split) + " sums to " + std::to_string(sum) + " but axis " +
                       std::to_string(axis) + " has size " + std::to_string(dim));
  } else {
    int64_t parts = ctx.attrs().get_int("num_outputs", n_out);
    if (parts != n_out || parts <= 0)
      return ctx.error("num_outputs " + std::to_string(parts) + " does not match the node's " + std::to_string(n_out) + " outputs");
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
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  int64_t offset = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    Dims od = x.dims();
    od[axis] = split[i];
    KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, x.dtype(), od));
    const int64_t block = split[i] * inner;
    for (int64_t o = 0; o < outer; ++o) copy_elements(x, o * dim * inner + offset * inner, out, o * block, block);
    offset += split[i];
    ctx.set_output(i, out);
  }
  return ok_status();
}

Status slice_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> starts, ends, axes, steps;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "starts", &starts));
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 2, "ends", &ends));
  if (starts.size() != ends.size())
    return ctx.error("starts has " + std::to_string(starts.size()) + " entries but ends has " + std::to_string(ends.size()));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 3, "axes", &axes));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(4)) {
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 4, "steps", &steps));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length");
  std::vector<int64_t> first(r, 0), step(r, 1);
  Dims out_dims = x.dims();
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a;
    if (!normalize_axis_index(axes[i], r, &a))
      return ctx.error("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(r));
    if (seen[a]) return ctx.error("axes " + ints_to_string(axes) + " contain a duplicate");
    seen[a] = true;
    const int64_t d = x.dim(a), s = steps[i];
    if (s == 0) return ctx.error("steps must be nonzero");
    const SliceRange range = slice_range(starts[i], ends[i], s, d);
    first[a] = range.first;
    step[a] = s;
    out_dims[a] = range.count;
  }
  const auto strides = strides_of(x.dims());
  const int64_t total = dims_numel(out_dims);
  std::vector<int64_t> map(static_cast<size_t>(total));
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < total; ++k) {
    unravel_index(k, out_dims, &idx);
    int64_t off = 0;
    for (int64_t d = 0; d < r; ++d) off += (first[d] + idx[d] * step[d]) * strides[d];
    map[k] = off;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
