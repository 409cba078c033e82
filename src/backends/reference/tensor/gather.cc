// Reference kernels that select elements by index or mask: Gather, GatherElements, GatherND, Compress, NonZero.
#include "backends/reference/tensor/kernels.h"
#include "ir/shape_rules.h"
#include "backends/reference/tensor/util.h"
#include "ir/op_params.h"

namespace kiln {

namespace {

// Checks an index against [-dim, dim) and returns it made non-negative.
Status fix_index(const KernelContext& ctx, int64_t idx, int64_t dim, const char* what, int64_t* out) {
  if (idx < -dim || idx >= dim)
    return out_of_range(ctx.node().describe() + ": " + what + " index " + std::to_string(idx) +
                        " is out of range for a dimension of size " + std::to_string(dim));
  *out = idx < 0 ? idx + dim : idx;
  return ok_status();
}

}  // namespace

Status gather_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> indices;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "indices", &indices));
  const Tensor& ind = ctx.input(1);
  if (r == 0) return ctx.error("data must have rank >= 1");
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims out_dims(x.dims().begin(), x.dims().begin() + axis);
  out_dims.insert(out_dims.end(), ind.dims().begin(), ind.dims().end());
  out_dims.insert(out_dims.end(), x.dims().begin() + axis + 1, x.dims().end());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const int64_t dim = x.dim(axis);
  for (auto& i : indices) KILN_RETURN_IF_ERROR(fix_index(ctx, i, dim, "Gather", &i));
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, x.dtype(), out_dims));
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : indices) {
      copy_elements(x, (o * dim + i) * inner, out, dst, inner);
      dst += inner;
    }
  ctx.set_output(0, out);
  return ok_status();
}

Status gather_elements_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> indices;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "indices", &indices));
  const Tensor& ind = ctx.input(1);
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  if (Status st = check_element_indices(x.dims(), ind.dims(), axis); !st.ok()) return ctx.error(st.message());
  const auto strides = strides_of(x.dims());
  std::vector<int64_t> map(indices.size());
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < ind.numel(); ++k) {
    unravel_index(k, ind.dims(), &idx);
    KILN_RETURN_IF_ERROR(fix_index(ctx, indices[k], x.dim(axis), "GatherElements", &idx[axis]));
    int64_t off = 0;
    for (int64_t d = 0; d < r; ++d) off += idx[d] * strides[d];
    map[k] = off;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, ind.dims(), map));
  ctx.set_output(0, out);
  return ok_status();
}

Status gather_nd_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> indices;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "indices", &indices));
  const Tensor& ind = ctx.input(1);
  const int64_t r = static_cast<int64_t>(x.rank()), q = static_cast<int64_t>(ind.rank());
  const int64_t b = ctx.attrs().get_int("batch_dims", 0);
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) return ctx.error("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t d = 0; d < b; ++d)
    if (x.dim(d) != ind.dim(d))
      return ctx.error("batch dimension " + std::to_string(d) + " differs: data " + dims_to_string(x.dims()) + ", indices " +
                       dims_to_string(ind.dims()));
  const int64_t last = ind.dim(q - 1);
  if (last < 1 || last > r - b)
    return ctx.error("indices last dimension " + std::to_string(last) + " must be in [1, " + std::to_string(r - b) + "]");
  Dims out_dims(ind.dims().begin(), ind.dims().end() - 1);
  out_dims.insert(out_dims.end(), x.dims().begin() + b + last, x.dims().end());
  int64_t slice = 1;
  for (int64_t d = b + last; d < r; ++d) slice *= x.dim(d);
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= x.dim(d);
  const auto strides = strides_of(x.dims());
  const int64_t tuples = ind.numel() / last;
  const int64_t per_batch = batch > 0 ? tuples / batch : 0;
  const int64_t batch_stride = b > 0 ? strides[b - 1] : 0;
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, x.dtype(), out_dims));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = per_batch > 0 ? (t / per_batch) * batch_stride : 0;
    for (int64_t j = 0; j < last; ++j) {
      int64_t i;
      KILN_RETURN_IF_ERROR(fix_index(ctx, indices[t * last + j], x.dim(b + j), "GatherND", &i));
      off += i * strides[b + j];
    }
    copy_elements(x, off, out, t * slice, slice);
  }
  ctx.set_output(0, out);
  return ok_status();
}

Status compress_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  Tensor x = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.rank() != 1) return ctx.error("condition must be 1-D, got " + dims_to_string(cond.dims()));
  int64_t axis = 0;
  if (ctx.attrs().has("axis")) {
    if (!normalize_axis_index(ctx.attrs().get_int("axis"), static_cast<int64_t>(x.rank()), &axis))
      return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis")) + " is out of range for rank " +
                       std::to_string(x.rank()));
  } else {
    x = x.reshaped({x.numel()});
  }
  const int64_t dim = x.dim(axis);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (cond.as_double(i) == 0) continue;
    if (i >= dim)
      return ctx.error("condition selects index " + std::to_string(i) + " beyond the axis size " + std::to_string(dim));
    keep.push_back(i);
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (size_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  Dims out_dims = x.dims();
  out_dims[axis] = static_cast<int64_t>(keep.size());
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, x.dtype(), out_dims));
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : keep) {
      copy_elements(x, (o * dim + i) * inner, out, dst, inner);
      dst += inner;
    }
  ctx.set_output(0, out);
  return ok_status();
}

Status non_zero_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  Dims dims = x.rank() == 0 ? Dims{1} : x.dims();
  std::vector<int64_t> hits;
  for (int64_t k = 0; k < x.numel(); ++k) {
    const bool nz = x.dtype() == DType::kString ? !x.strings()[k].empty() : x.as_double(k) != 0;
    if (nz) hits.push_back(k);
  }
  const int64_t r = static_cast<int64_t>(dims.size()), n = static_cast<int64_t>(hits.size());
  Tensor out(DType::kInt64, {r, n});
  std::vector<int64_t> idx;
  for (int64_t j = 0; j < n; ++j) {
    unravel_index(hits[j], dims, &idx);
    for (int64_t d = 0; d < r; ++d) out.data<int64_t>()[d * n + j] = idx[d];
  }
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
