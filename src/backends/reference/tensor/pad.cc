// Reference kernels that grow or shrink a tensor by repeating or padding it: Pad, Expand, Tile, CenterCropPad.
#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"

namespace kiln {

namespace {

// Builds the element map of an output whose element at per-axis index i reads input index src_of(axis, i),
// or -1 (fill) where any axis maps outside the input.
template <typename F>
std::vector<int64_t> axis_map(const Dims& in_dims, const Dims& out_dims, F src_of) {
  const int64_t r = static_cast<int64_t>(in_dims.size());
  const auto strides = strides_of(in_dims);
  const int64_t total = dims_numel(out_dims);
  std::vector<int64_t> map(static_cast<size_t>(total));
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < total; ++k) {
    unravel_index(k, out_dims, &idx);
    int64_t off = 0;
    for (int64_t d = 0; d < r && off >= 0; ++d) {
      const int64_t s = src_of(d, idx[d]);
      off = s < 0 || s >= in_dims[d] ? -1 : off + s * strides[d];
    }
    map[k] = off;
  }
  return map;
}

}  // namespace

Status pad_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  const std::string mode = ctx.attrs().get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.error("mode must be constant, reflect, edge or wrap, got '" + mode + "'");
  std::vector<int64_t> pads, axes;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "pads", &pads));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 3, "axes", &axes));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na)
    return ctx.error("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * na) +
                     " (2 per axis)");
  std::vector<int64_t> begin(r, 0), end(r, 0);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < na; ++i) {
    int64_t a;
    if (!normalize_axis_index(axes[i], r, &a))
      return ctx.error("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(r));
    if (seen[a]) return ctx.error("axes " + ints_to_string(axes) + " contain a duplicate");
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[na + i];
    const int64_t limit = int64_t{1} << 40;
    if (begin[a] < -limit || begin[a] > limit || end[a] < -limit || end[a] > limit)
      return ctx.error("pads " + ints_to_string(pads) + " are out of any sensible range");
  }
  Dims out_dims(r);
  for (int64_t d = 0; d < r; ++d) {
    out_dims[d] = x.dim(d) + begin[d] + end[d];
    if (out_dims[d] < 0)
      return ctx.error("pads " + ints_to_string(pads) + " remove more than the " + std::to_string(x.dim(d)) +
                       " elements of axis " + std::to_string(d));
    if (mode != "constant" && x.dim(d) == 0 && out_dims[d] > 0)
      return ctx.error("cannot pad empty axis " + std::to_string(d) + " in " + mode + " mode");
  }
  KILN_RETURN_IF_ERROR(check_output_numel(ctx, out_dims));
  Tensor fill;
  if (ctx.has_input(2) && mode == "constant") {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    fill = ctx.input(2);
    if (fill.numel() != 1) return ctx.error("constant_value must be a scalar, got " + dims_to_string(fill.dims()));
    if (fill.dtype() != x.dtype())
      return ctx.error(std::string("constant_value has dtype ") + dtype_name(fill.dtype()) + ", expected " +
                       dtype_name(x.dtype()));
  }
  if (!fill.defined() && mode == "constant" && ctx.attrs().has("value")) {
    // Pad-2's float 'value' attribute (kept by the import normalizer).
    KILN_ASSIGN_OR_RETURN(fill, make_scalar(ctx, x.dtype(), ctx.attrs().get_float("value")));
  }
  auto src_of = [&](int64_t d, int64_t i) -> int64_t {
    const int64_t n = x.dim(d);
    int64_t s = i - begin[d];
    if (s >= 0 && s < n) return s;
    if (mode == "constant") return -1;
    if (mode == "edge") return s < 0 ? 0 : n - 1;
    if (mode == "wrap") return ((s % n) + n) % n;
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    s = ((s % period) + period) % period;
    return s >= n ? period - s : s;
  };
  auto map = axis_map(x.dims(), out_dims, src_of);
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map, fill.defined() ? &fill : nullptr));
  ctx.set_output(0, out);
  return ok_status();
}

Status expand_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "shape", &shape));
  for (int64_t d : shape)
    if (d < 0) return ctx.error("shape " + ints_to_string(shape) + " has a negative dimension");
  Dims out_dims;
  if (!broadcast_dims(x.dims(), shape, &out_dims))
    return ctx.error("input shape " + dims_to_string(x.dims()) + " cannot be expanded to " + ints_to_string(shape));
  KILN_RETURN_IF_ERROR(check_output_numel(ctx, out_dims));
  auto map = broadcast_index_map(x.dims(), out_dims);
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

Status tile_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> repeats;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "repeats", &repeats));
  if (ctx.opset() < 6 && ctx.has_input(2)) {
    // Tile-1: a scalar number of tiles along one axis.
    std::vector<int64_t> axis;
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 2, "axis", &axis));
    int64_t a;
    if (repeats.size() != 1 || axis.size() != 1 || !normalize_axis_index(axis[0], r, &a))
      return ctx.error("Tile-1 needs scalar tiles and a valid scalar axis");
    std::vector<int64_t> full(r, 1);
    full[a] = repeats[0];
    repeats = full;
  }
  if (static_cast<int64_t>(repeats.size()) != r)
    return ctx.error("repeats has " + std::to_string(repeats.size()) + " entries but the input has rank " + std::to_string(r));
  Dims out_dims(r);
  for (int64_t d = 0; d < r; ++d) {
    if (repeats[d] < 0) return ctx.error("repeats " + ints_to_string(repeats) + " has a negative entry");
    if (repeats[d] > 0 && x.dim(d) > (int64_t{1} << 40) / repeats[d])
      return resource_exhausted(ctx.node().describe() + ": repeats " + ints_to_string(repeats) + " give a too large output");
    out_dims[d] = x.dim(d) * repeats[d];
  }
  KILN_RETURN_IF_ERROR(check_output_numel(ctx, out_dims));
  auto map = axis_map(x.dims(), out_dims, [&](int64_t d, int64_t i) { return i % x.dim(d); });
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

Status center_crop_pad_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> shape;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "shape", &shape));
  std::vector<int64_t> axes = ctx.attrs().get_ints("axes");
  if (!ctx.attrs().has("axes"))
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (axes.size() != shape.size())
    return ctx.error("shape has " + std::to_string(shape.size()) + " entries but there are " + std::to_string(axes.size()) + " axes");
  Dims out_dims = x.dims();
  std::vector<int64_t> offset(r, 0);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a;
    if (!normalize_axis_index(axes[i], r, &a))
      return ctx.error("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(r));
    if (seen[a]) return ctx.error("axes " + ints_to_string(axes) + " contain a duplicate");
    seen[a] = true;
    if (shape[i] < 0) return ctx.error("shape " + ints_to_string(shape) + " has a negative entry");
    const int64_t d = x.dim(a);
    out_dims[a] = shape[i];
    offset[a] = d >= shape[i] ? (d - shape[i]) / 2 : -((shape[i] - d) / 2);
  }
  KILN_RETURN_IF_ERROR(check_output_numel(ctx, out_dims));
  auto map = axis_map(x.dims(), out_dims, [&](int64_t d, int64_t i) { return i + offset[d]; });
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
