// Reference kernels that write updates into a copy of a tensor: ScatterElements (and the deprecated Scatter),
// ScatterND, TensorScatter.
#include <algorithm>

#include "backends/reference/tensor/kernels.h"
#include "ir/shape_rules.h"
#include "backends/reference/tensor/util.h"

namespace kiln {

namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Status parse_reduction(const KernelContext& ctx, Reduction* out) {
  const std::string r = ctx.attrs().get_string("reduction", "none");
  if (r == "none") *out = Reduction::kNone;
  else if (r == "add") *out = Reduction::kAdd;
  else if (r == "mul") *out = Reduction::kMul;
  else if (r == "max") *out = Reduction::kMax;
  else if (r == "min") *out = Reduction::kMin;
  else return ctx.error("reduction must be none, add, mul, max or min, got '" + r + "'");
  return ok_status();
}

template <typename T>
void reduce_pairs(T* out, const T* upd, const std::vector<int64_t>& dst, const std::vector<int64_t>& src, Reduction red) {
  for (size_t k = 0; k < dst.size(); ++k) {
    T& o = out[dst[k]];
    const T u = upd[src[k]];
    switch (red) {
      case Reduction::kNone: o = u; break;
      case Reduction::kAdd: o = static_cast<T>(o + u); break;
      case Reduction::kMul: o = static_cast<T>(o * u); break;
      case Reduction::kMax: o = std::max(o, u); break;
      case Reduction::kMin: o = std::min(o, u); break;
    }
  }
}

// Writes updates[src[k]] into out[dst[k]] in order, combining with `red`. `out` is a fresh copy of the data.
Status scatter_pairs(const KernelContext& ctx, Tensor& out, const Tensor& upd, const std::vector<int64_t>& dst,
                     const std::vector<int64_t>& src, Reduction red) {
  if (red == Reduction::kNone) {
    for (size_t k = 0; k < dst.size(); ++k) copy_element(upd, src[k], out, dst[k]);
    return ok_status();
  }
  if (is_narrow_float(out.dtype())) {
    Tensor o32 = to_float32(out).clone(), u32 = to_float32(upd);
    reduce_pairs(o32.data<float>(), u32.data<float>(), dst, src, red);
    Tensor back = from_float32(o32, out.dtype());
    copy_elements(back, 0, out, 0, out.numel());
    return ok_status();
  }
  Status st = dispatch_dtype(out.dtype(), DispatchSet{true, true, true}, [&]<typename T>() {
    reduce_pairs(out.data<T>(), upd.data<T>(), dst, src, red);
  });
  if (!st.ok()) return ctx.unsupported("reduction on dtype " + std::string(dtype_name(out.dtype())) + " is not supported");
  return ok_status();
}

Status check_same_dtype(const KernelContext& ctx, const Tensor& data, const Tensor& upd) {
  if (data.dtype() != upd.dtype())
    return ctx.error(std::string("updates have dtype ") + dtype_name(upd.dtype()) + ", expected " + dtype_name(data.dtype()));
  return ok_status();
}

}  // namespace

Status scatter_elements_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const Tensor& x = ctx.input(0);
  const Tensor& upd = ctx.input(2);
  std::vector<int64_t> indices;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "indices", &indices));
  const Tensor& ind = ctx.input(1);
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, x, upd));
  Reduction red;
  KILN_RETURN_IF_ERROR(parse_reduction(ctx, &red));
  const int64_t r = static_cast<int64_t>(x.rank());
  if (upd.dims() != ind.dims())
    return ctx.error("updates shape " + dims_to_string(upd.dims()) + " must equal indices shape " + dims_to_string(ind.dims()));
  int64_t axis = 0;
  if (r > 0 && !normalize_axis_index(ctx.attrs().get_int("axis", 0), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  if (Status st = check_element_indices(x.dims(), ind.dims(), axis); !st.ok()) return ctx.error(st.message());
  const auto strides = strides_of(x.dims());
  std::vector<int64_t> dst(indices.size()), src(indices.size());
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < ind.numel(); ++k) {
    unravel_index(k, ind.dims(), &idx);
    int64_t i = indices[k];
    const int64_t dim = x.dim(axis);
    if (i < -dim || i >= dim)
      return out_of_range(ctx.node().describe() + ": index " + std::to_string(i) + " is out of range for axis size " +
                          std::to_string(dim));
    idx[axis] = i < 0 ? i + dim : i;
    int64_t off = 0;
    for (int64_t d = 0; d < r; ++d) off += idx[d] * strides[d];
    dst[k] = off;
    src[k] = k;
  }
  Tensor out = x.clone();
  KILN_RETURN_IF_ERROR(scatter_pairs(ctx, out, upd, dst, src, red));
  ctx.set_output(0, out);
  return ok_status();
}

Status scatter_nd_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
  const Tensor& x = ctx.input(0);
  const Tensor& upd = ctx.input(2);
  std::vector<int64_t> indices;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "indices", &indices));
  const Tensor& ind = ctx.input(1);
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, x, upd));
  Reduction red;
  KILN_RETURN_IF_ERROR(parse_reduction(ctx, &red));
  const int64_t r = static_cast<int64_t>(x.rank());
  auto want_or = scatter_nd_updates_dims(x.dims(), ind.dims());
  if (!want_or.ok()) return ctx.error(want_or.status().message());
  const Dims& want = *want_or;
  const int64_t last = ind.dim(ind.rank() - 1);
  if (upd.dims() != want)
    return ctx.error("updates shape " + dims_to_string(upd.dims()) + " must be " + dims_to_string(want));
  int64_t slice = 1;
  for (int64_t d = last; d < r; ++d) slice *= x.dim(d);
  const auto strides = strides_of(x.dims());
  const int64_t tuples = last > 0 ? ind.numel() / last : dims_numel(want) / std::max<int64_t>(1, slice);
  std::vector<int64_t> dst, src;
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < last; ++j) {
      int64_t i = indices[t * last + j];
      const int64_t dim = x.dim(j);
      if (i < -dim || i >= dim)
        return out_of_range(ctx.node().describe() + ": index " + std::to_string(i) + " is out of range for axis " +
                            std::to_string(j) + " of size " + std::to_string(dim));
      off += (i < 0 ? i + dim : i) * strides[j];
    }
    for (int64_t e = 0; e < slice; ++e) {
      dst.push_back(off + e);
      src.push_back(t * slice + e);
    }
  }
  Tensor out = x.clone();
  KILN_RETURN_IF_ERROR(scatter_pairs(ctx, out, upd, dst, src, red));
  ctx.set_output(0, out);
  return ok_status();
}

Status tensor_scatter_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& past = ctx.input(0);
  const Tensor& upd = ctx.input(1);
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, past, upd));
  const int64_t r = static_cast<int64_t>(past.rank());
  const std::string mode = ctx.attrs().get_string("mode", "linear");
  if (mode != "linear" && mode != "circular") return ctx.error("mode must be linear or circular, got '" + mode + "'");
  int64_t axis;
  if (!normalize_axis_index(ctx.attrs().get_int("axis", -2), r, &axis) || axis == 0)
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", -2)) + " must name a non-batch axis of rank " +
                     std::to_string(r));
  bool ok = upd.rank() == past.rank();
  for (int64_t d = 0; ok && d < r; ++d) ok = d == axis ? upd.dim(d) <= past.dim(d) : upd.dim(d) == past.dim(d);
  if (!ok)
    return ctx.error("update shape " + dims_to_string(upd.dims()) + " must match cache shape " + dims_to_string(past.dims()) +
                     " except for a sequence axis no longer than the cache's");
  const int64_t batch = past.dim(0), max_len = past.dim(axis), len = upd.dim(axis);
  std::vector<int64_t> write(batch, 0);
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 2, "write_indices", &write));
    if (static_cast<int64_t>(write.size()) != batch)
      return ctx.error("write_indices has " + std::to_string(write.size()) + " entries, expected batch size " + std::to_string(batch));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= past.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= past.dim(d);
  const int64_t per_batch = batch > 0 ? outer / batch : 0;
  Tensor out = past.clone();
  for (int64_t o = 0; o < outer; ++o) {
    const int64_t b = o / per_batch;
    for (int64_t s = 0; s < len; ++s) {
      int64_t pos = write[b] + s;
      if (mode == "circular") pos = max_len > 0 ? ((pos % max_len) + max_len) % max_len : 0;
      if (pos < 0 || pos >= max_len)
        return out_of_range(ctx.node().describe() + ": write position " + std::to_string(pos) + " for batch " +
                            std::to_string(b) + " is outside the cache length " + std::to_string(max_len));
      copy_elements(upd, (o * len + s) * inner, out, (o * max_len + pos) * inner, inner);
    }
  }
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
