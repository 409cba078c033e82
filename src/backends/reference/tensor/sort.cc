// Reference kernels that order or compare elements: TopK, ArgMax, ArgMin, Unique.
#include <algorithm>
#include <numeric>

#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"

namespace kiln {

namespace {

Status check_orderable(const KernelContext& ctx, const Tensor& x, bool allow_string) {
  const DType t = x.dtype();
  if (t == DType::kString && allow_string) return ok_status();
  if (t == DType::kString || t == DType::kComplex64 || t == DType::kComplex128 || t == DType::kUndefined)
    return ctx.unsupported(std::string("dtype ") + dtype_name(t) + " cannot be ordered");
  return ok_status();
}

// Splits x around `axis` into outer x dim x inner.
void split_dims(const Dims& d, int64_t axis, int64_t* outer, int64_t* dim, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int64_t i = 0; i < axis; ++i) *outer *= d[i];
  for (size_t i = axis + 1; i < d.size(); ++i) *inner *= d[i];
  *dim = d[axis];
}

}  // namespace

Status top_k_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_orderable(ctx, x, false));
  std::vector<int64_t> kv;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "K", &kv));
  if (kv.size() != 1) return ctx.error("K must hold exactly one value");
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis;
  if (!normalize_axis_index(ctx.attrs().get_int("axis", -1), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", -1)) + " is out of range for rank " + std::to_string(r));
  int64_t outer, dim, inner;
  split_dims(x.dims(), axis, &outer, &dim, &inner);
  const int64_t k = kv[0];
  if (k < 0 || k > dim) return ctx.error("K = " + std::to_string(k) + " must be in [0, " + std::to_string(dim) + "]");
  const bool largest = ctx.attrs().get_int("largest", 1) != 0;
  Dims out_dims = x.dims();
  out_dims[axis] = k;
  KILN_ASSIGN_OR_RETURN(Tensor values, alloc_output(ctx, x.dtype(), out_dims));
  KILN_ASSIGN_OR_RETURN(Tensor indices, alloc_output(ctx, DType::kInt64, out_dims));
  std::vector<int64_t> order(dim);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * dim * inner + i;
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const int c = compare_elements(x, base + a * inner, x, base + b * inner);
        return largest ? c > 0 : c < 0;
      });
      for (int64_t j = 0; j < k; ++j) {
        const int64_t dst = (o * k + j) * inner + i;
        copy_element(x, base + order[j] * inner, values, dst);
        indices.data<int64_t>()[dst] = order[j];
      }
    }
  ctx.set_output(0, values);
  ctx.set_output(1, indices);
  return ok_status();
}

namespace {

Status arg_reduce(KernelContext& ctx, bool want_max) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_orderable(ctx, x, false));
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis;
  if (r == 0) return ctx.error("input must have rank >= 1");
  if (!normalize_axis_index(ctx.attrs().get_int("axis", 0), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  const bool last = ctx.attrs().get_int("select_last_index", 0) != 0;
  int64_t outer, dim, inner;
  split_dims(x.dims(), axis, &outer, &dim, &inner);
  if (dim == 0) return ctx.error("cannot reduce an empty axis " + std::to_string(axis));
  Dims out_dims = x.dims();
  if (keepdims) out_dims[axis] = 1;
  else out_dims.erase(out_dims.begin() + axis);
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, DType::kInt64, out_dims));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * dim * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < dim; ++j) {
        int c = compare_elements(x, base + j * inner, x, base + best * inner);
        if (!want_max) c = -c;
        if (c > 0 || (c == 0 && last)) best = j;
      }
      out.data<int64_t>()[o * inner + i] = best;
    }
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace

Status arg_max_kernel(KernelContext& ctx) { return arg_reduce(ctx, true); }
Status arg_min_kernel(KernelContext& ctx) { return arg_reduce(ctx, false); }

Status unique_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  Tensor x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_orderable(ctx, x, true));
  const bool sorted = ctx.attrs().get_int("sorted", 1) != 0;
  int64_t axis = 0;
  if (ctx.attrs().has("axis")) {
    if (!normalize_axis_index(ctx.attrs().get_int("axis"), static_cast<int64_t>(x.rank()), &axis))
      return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis")) + " is out of range for rank " +
                       std::to_string(x.rank()));
  } else {
    x = x.reshaped({x.numel()});
  }
  int64_t outer, n, inner;
  split_dims(x.dims(), axis, &outer, &n, &inner);
  // Items are the slices x[..., i, ...] along the axis, compared lexicographically.
  auto cmp_items = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int c = compare_elements(x, (o * n + a) * inner + i, x, (o * n + b) * inner + i);
        if (c != 0) return c;
      }
    return 0;
  };
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp_items(a, b) < 0; });
  // Groups of equal items in sorted order: first occurrence and count.
  std::vector<int64_t> group_first, group_count, group_of(n);
  for (int64_t p = 0; p < n; ++p) {
    if (p == 0 || cmp_items(order[p - 1], order[p]) != 0) {
      group_first.push_back(order[p]);
      group_count.push_back(0);
    }
    group_of[order[p]] = static_cast<int64_t>(group_first.size()) - 1;
    ++group_count.back();
  }
  const int64_t u = static_cast<int64_t>(group_first.size());
  std::vector<int64_t> out_order(u);  // output position -> group
  std::iota(out_order.begin(), out_order.end(), 0);
  if (!sorted)
    std::sort(out_order.begin(), out_order.end(), [&](int64_t a, int64_t b) { return group_first[a] < group_first[b]; });
  std::vector<int64_t> pos_of_group(u);
  for (int64_t p = 0; p < u; ++p) pos_of_group[out_order[p]] = p;
  Dims y_dims = x.dims();
  y_dims[axis] = u;
  KILN_ASSIGN_OR_RETURN(Tensor y, alloc_output(ctx, x.dtype(), y_dims));
  Tensor first(DType::kInt64, {u}), inverse(DType::kInt64, {n}), counts(DType::kInt64, {u});
  for (int64_t p = 0; p < u; ++p) {
    const int64_t g = out_order[p];
    for (int64_t o = 0; o < outer; ++o) copy_elements(x, (o * n + group_first[g]) * inner, y, (o * u + p) * inner, inner);
    first.data<int64_t>()[p] = group_first[g];
    counts.data<int64_t>()[p] = group_count[g];
  }
  for (int64_t i = 0; i < n; ++i) inverse.data<int64_t>()[i] = pos_of_group[group_of[i]];
  ctx.set_output(0, y);
  ctx.set_output(1, first);
  ctx.set_output(2, inverse);
  ctx.set_output(3, counts);
  return ok_status();
}

}  // namespace kiln
