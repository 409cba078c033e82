// CUDA Transpose, DepthToSpace and SpaceToDepth: permutations collapsed to their simplest form, then the
// tiled batched-swap kernel (last-two-dims swap, NCHW <-> NHWC) or the generic strided copy.
#include <algorithm>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/op_params.h"

namespace kiln::cuda {

namespace {

// Drops size-1 dims and merges input dims that stay adjacent and in order in the output.
void collapse_permutation(const Dims& in_dims, const std::vector<int64_t>& perm, Dims* dims_out,
                          std::vector<int64_t>* perm_out) {
  const int64_t r = static_cast<int64_t>(in_dims.size());
  std::vector<int64_t> new_index(r, -1);
  Dims kept;
  for (int64_t i = 0; i < r; ++i)
    if (in_dims[i] != 1) {
      new_index[i] = static_cast<int64_t>(kept.size());
      kept.push_back(in_dims[i]);
    }
  std::vector<int64_t> p;
  for (int64_t a : perm)
    if (new_index[a] >= 0) p.push_back(new_index[a]);
  // Groups of consecutive input axes in output order.
  std::vector<std::vector<int64_t>> groups;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!groups.empty() && groups.back().back() + 1 == p[i]) {
      groups.back().push_back(p[i]);
    } else {
      groups.push_back({p[i]});
    }
  }
  // Input order of the groups = order of their first axes.
  std::vector<size_t> order(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) order[g] = g;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a][0] < groups[b][0]; });
  std::vector<int64_t> in_pos(groups.size());
  dims_out->clear();
  for (size_t k = 0; k < order.size(); ++k) {
    in_pos[order[k]] = static_cast<int64_t>(k);
    int64_t n = 1;
    for (int64_t a : groups[order[k]]) n *= kept[a];
    dims_out->push_back(n);
  }
  perm_out->clear();
  for (size_t g = 0; g < groups.size(); ++g) perm_out->push_back(in_pos[g]);
}

}  // namespace

Status permute(CudaKernelContext& ctx, const void* in, const Dims& in_dims, const std::vector<int64_t>& perm, size_t es,
               void* out) {
  const int64_t n = numel_of(in_dims);
  if (n == 0) return ok_status();
  Dims d;
  std::vector<int64_t> p;
  collapse_permutation(in_dims, perm, &d, &p);
  if (p.size() <= 1)
    return launch_status(ctx, cudaMemcpyAsync(out, in, n * es, cudaMemcpyDeviceToDevice, ctx.stream()), "copy");
  if (p == std::vector<int64_t>{1, 0})
    return launch_status(ctx, launch_transpose_tiled(es, in, out, 1, d[0], d[1], ctx.stream()), "transpose");
  if (p == std::vector<int64_t>{0, 2, 1})
    return launch_status(ctx, launch_transpose_tiled(es, in, out, d[0], d[1], d[2], ctx.stream()), "transpose");
  if (p.size() > static_cast<size_t>(kMaxDims))
    return ctx.unsupported("permutation needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
  std::vector<int64_t> strides(d.size());
  int64_t s = 1;
  for (size_t i = d.size(); i-- > 0;) {
    strides[i] = s;
    s *= d[i];
  }
  StridedDesc desc;
  desc.rank = static_cast<int>(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    desc.dims[i] = d[p[i]];
    desc.strides[i] = strides[p[i]];
  }
  return launch_status(ctx, launch_strided_copy(es, in, out, desc, n, ctx.stream()), "transpose");
}

bool supports_transpose(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (!supports_movable(node, types)) return false;
  if (types.empty() || types[0] == nullptr || !types[0]->shape.rank_known) return true;
  // More than kMaxDims dims after collapsing cannot run here: send such nodes to the CPU at build time.
  const Shape& sh = types[0]->shape;
  const int64_t r = static_cast<int64_t>(sh.rank());
  if (r <= kMaxDims) return true;
  auto parsed = transpose_perm(node.attrs, r);
  if (!parsed.ok()) return true;  // run() reports the error
  std::vector<int64_t> perm = *parsed;
  Dims dims;
  for (const Dim& d : sh.dims) dims.push_back(d.is_known() ? d.value : 2);  // unknown dims: assume not 1
  Dims cd;
  std::vector<int64_t> cp;
  collapse_permutation(dims, perm, &cd, &cp);
  return cp.size() <= static_cast<size_t>(kMaxDims);
}

Status run_transpose(CudaKernelContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType dt = ctx.input_dtype(0);
  if (!movable_dtype(dt)) return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  const int64_t r = static_cast<int64_t>(x.size());
  auto parsed = transpose_perm(ctx.attrs(), r);
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  std::vector<int64_t> perm = *parsed;
  Dims out_dims(r);
  for (int64_t i = 0; i < r; ++i) out_dims[i] = x[perm[i]];
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, dt, out_dims));
  return permute(ctx, in.data, x, perm, dtype_size(dt), out.data);
}

// DepthToSpace and SpaceToDepth: the permuted view of ir/op_params.h's pixel_shuffle, one permute.
Status run_pixel_shuffle(CudaKernelContext& ctx) {
  if (!movable_dtype(ctx.input_dtype(0))) return ctx.unsupported(std::string("dtype ") + dtype_name(ctx.input_dtype(0)));
  auto ps = pixel_shuffle(ctx.node().op, ctx.attrs(), ctx.input_dims(0));
  if (!ps.ok()) return ctx.error(ps.status().message());
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor out, ctx.allocate_output(0, in.dtype, ps->out));
  return permute(ctx, in.data, ps->view, ps->perm, dtype_size(in.dtype), out.data);
}

}  // namespace kiln::cuda
