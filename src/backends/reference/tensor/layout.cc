// Reference kernels that rearrange elements within a tensor: Transpose, DepthToSpace, SpaceToDepth, Trilu,
// EyeLike, ReverseSequence.
#include <numeric>

#include "backends/reference/tensor/kernels.h"
#include "backends/reference/tensor/util.h"
#include "ir/op_params.h"

namespace kiln {

Status transpose_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  auto parsed = transpose_perm(ctx.attrs(), r);
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const std::vector<int64_t>& perm = *parsed;
  Dims out_dims(r);
  for (int64_t i = 0; i < r; ++i) out_dims[i] = x.dim(perm[i]);
  const auto in_strides = strides_of(x.dims());
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < x.numel(); ++k) {
    unravel_index(k, out_dims, &idx);
    int64_t off = 0;
    for (int64_t i = 0; i < r; ++i) off += idx[i] * in_strides[perm[i]];
    map[k] = off;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

namespace {

Status check_4d_blocksize(const KernelContext& ctx, const Tensor& x, int64_t* b) {
  if (x.rank() != 4) return ctx.error("input must be 4-D (N,C,H,W), got " + dims_to_string(x.dims()));
  *b = ctx.attrs().get_int("blocksize", 0);
  if (*b <= 0) return ctx.error("blocksize must be positive, got " + std::to_string(*b));
  return ok_status();
}

}  // namespace

Status depth_to_space_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  int64_t b;
  KILN_RETURN_IF_ERROR(check_4d_blocksize(ctx, x, &b));
  const std::string mode = ctx.attrs().get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.error("mode must be DCR or CRD, got '" + mode + "'");
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (c % (b * b) != 0)
    return ctx.error("channels (" + std::to_string(c) + ") must be divisible by blocksize^2 (" + std::to_string(b * b) + ")");
  const int64_t oc = c / (b * b);
  Dims out_dims = {n, oc, h * b, w * b};
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  int64_t k = 0;
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < oc; ++ic)
      for (int64_t oh = 0; oh < h * b; ++oh)
        for (int64_t ow = 0; ow < w * b; ++ow) {
          const int64_t i = oh % b, j = ow % b;
          const int64_t ch = mode == "DCR" ? (i * b + j) * oc + ic : ic * b * b + i * b + j;
          map[k++] = ((in * c + ch) * h + oh / b) * w + ow / b;
        }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

Status space_to_depth_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  int64_t b;
  KILN_RETURN_IF_ERROR(check_4d_blocksize(ctx, x, &b));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (h % b != 0 || w % b != 0)
    return ctx.error("spatial dims " + dims_to_string(x.dims()) + " must be divisible by blocksize " + std::to_string(b));
  const int64_t oh = h / b, ow = w / b;
  Dims out_dims = {n, c * b * b, oh, ow};
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  int64_t k = 0;
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ch = 0; ch < c * b * b; ++ch)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xx = 0; xx < ow; ++xx) {
          const int64_t blk = ch / c, ic = ch % c, i = blk / b, j = blk % b;
          map[k++] = ((in * c + ic) * h + y * b + i) * w + xx * b + j;
        }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, out_dims, map));
  ctx.set_output(0, out);
  return ok_status();
}

Status trilu_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input must have rank >= 2, got " + dims_to_string(x.dims()));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    std::vector<int64_t> kv;
    KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "k", &kv));
    if (kv.size() != 1) return ctx.error("input 'k' must be a scalar");
    k = kv[0];
  }
  const bool upper = ctx.attrs().get_int("upper", 1) != 0;
  const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  for (int64_t e = 0; e < x.numel(); ++e) {
    const int64_t j = e % cols, i = (e / cols) % rows;
    const bool keep = upper ? j - i >= k : j - i <= k;
    map[e] = keep ? e : -1;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, x.dims(), map));
  ctx.set_output(0, out);
  return ok_status();
}

Status eye_like_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.error("input must be 2-D, got " + dims_to_string(x.dims()));
  DType dt = x.dtype();
  if (ctx.attrs().has("dtype") && !dtype_from_int(ctx.attrs().get_int("dtype"), &dt))
    return ctx.error("unknown dtype " + std::to_string(ctx.attrs().get_int("dtype")));
  if (dt == DType::kString) return ctx.unsupported("EyeLike does not produce string tensors");
  const int64_t k = ctx.attrs().get_int("k", 0);
  KILN_ASSIGN_OR_RETURN(Tensor one, make_scalar(ctx, dt, 1.0));
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, dt, x.dims()));
  for (int64_t i = 0; i < x.dim(0); ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < x.dim(1)) copy_element(one, 0, out, i * x.dim(1) + j);
  }
  ctx.set_output(0, out);
  return ok_status();
}

Status reverse_sequence_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input must have rank >= 2, got " + dims_to_string(x.dims()));
  std::vector<int64_t> lens;
  KILN_RETURN_IF_ERROR(read_int_input(ctx, 1, "sequence_lens", &lens));
  const int64_t batch_axis = ctx.attrs().get_int("batch_axis", 1);
  const int64_t time_axis = ctx.attrs().get_int("time_axis", 0);
  if (!((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0)))
    return ctx.error("batch_axis and time_axis must be 0 and 1 in some order");
  const int64_t batch = x.dim(batch_axis), time = x.dim(time_axis);
  if (static_cast<int64_t>(lens.size()) != batch)
    return ctx.error("sequence_lens has " + std::to_string(lens.size()) + " entries, expected batch size " +
                     std::to_string(batch));
  for (int64_t l : lens)
    if (l < 0 || l > time) return ctx.error("sequence length " + std::to_string(l) + " is outside [0, " + std::to_string(time) + "]");
  const auto strides = strides_of(x.dims());
  std::vector<int64_t> map(static_cast<size_t>(x.numel()));
  std::vector<int64_t> idx;
  for (int64_t e = 0; e < x.numel(); ++e) {
    unravel_index(e, x.dims(), &idx);
    const int64_t b = idx[batch_axis], t = idx[time_axis];
    const int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
    map[e] = e + (src_t - t) * strides[time_axis];
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, gather_by_map(ctx, x, x.dims(), map));
  ctx.set_output(0, out);
  return ok_status();
}

}  // namespace kiln
