// Host helpers of the norm family (see host_util.h).
#include "backends/cuda/norm/host_util.h"

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {

bool normalize_axis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

bool input_dtype_ok(const std::vector<const TypeInfo*>& types, size_t i, bool (*ok)(DType)) {
  if (i >= types.size() || types[i] == nullptr || types[i]->dtype == DType::kUndefined) return true;
  return ok(types[i]->dtype);
}

bool input_is_float_or_unknown(const std::vector<const TypeInfo*>& types, size_t i) {
  return input_dtype_ok(types, i, &is_float_dtype);
}

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

namespace {

// Input i's dims left-padded with 1s to target's rank (leading 1s beyond it dropped); error if not broadcastable.
Status padded_param_dims(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target, Dims* padded) {
  Dims src = ctx.input_dims(i);
  while (!src.empty() && src.front() == 1 && src.size() > target.size()) src.erase(src.begin());
  if (src.size() > target.size())
    return ctx.error(std::string(name) + " shape " + dims_str(ctx.input_dims(i)) + " does not broadcast to " +
                     dims_str(target));
  *padded = Dims(target.size() - src.size(), 1);
  padded->insert(padded->end(), src.begin(), src.end());
  for (size_t k = 0; k < target.size(); ++k)
    if ((*padded)[k] != target[k] && (*padded)[k] != 1)
      return ctx.error(std::string(name) + " shape " + dims_str(ctx.input_dims(i)) + " does not broadcast to " +
                       dims_str(target));
  return ok_status();
}

size_t round_up_256(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

Result<size_t> broadcast_param_bytes(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target) {
  Dims padded;
  KILN_RETURN_IF_ERROR(padded_param_dims(ctx, i, name, target, &padded));
  if (padded == target) return size_t{0};
  return round_up_256(static_cast<size_t>(numel_of(target)) * dtype_size(ctx.input_dtype(i)));
}

Result<const void*> broadcast_param(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target,
                                    void* scratch) {
  Dims padded;
  KILN_RETURN_IF_ERROR(padded_param_dims(ctx, i, name, target, &padded));
  KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.input(i));
  if (padded == target) return static_cast<const void*>(t.data);
  // Dims of size 1 in the target carry no index: drop them to stay within kMaxBroadcastRank.
  Dims s2, d2;
  for (size_t k = 0; k < target.size(); ++k) {
    if (target[k] == 1) continue;
    s2.push_back(padded[k]);
    d2.push_back(target[k]);
  }
  if (static_cast<int>(d2.size()) > kMaxBroadcastRank)
    return ctx.unsupported(std::string(name) + ": broadcasting over more than 8 dims is not supported");
  KILN_CUDA_RETURN_IF_ERROR(launch_broadcast_copy(t.data, scratch, static_cast<int>(dtype_size(t.dtype)),
                                                  static_cast<int>(d2.size()), s2.data(), d2.data(), ctx.stream()));
  return static_cast<const void*>(scratch);
}

bool plan_reduce_geometry(const Dims& dims, const std::vector<bool>& reduced, ReduceGeometry* g) {
  std::vector<int64_t> size;
  std::vector<bool> red;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    if (!size.empty() && red.back() == reduced[d]) {
      size.back() *= dims[d];
    } else {
      size.push_back(dims[d]);
      red.push_back(reduced[d]);
    }
  }
  *g = ReduceGeometry{};
  g->count = 1;
  g->out_numel = 1;
  for (size_t r = 0; r < size.size(); ++r) (red[r] ? g->count : g->out_numel) *= size[r];
  const size_t runs = size.size();
  size_t num_red = 0, first_red = runs;
  for (size_t r = 0; r < runs; ++r) {
    if (!red[r]) continue;
    if (num_red++ == 0) first_red = r;
  }
  if (num_red <= 1) {
    g->len = num_red ? size[first_red] : 1;
    for (size_t r = 0; r < runs; ++r) {
      if (r == first_red) continue;
      (r > first_red ? g->inner : g->outer) *= size[r];
    }
    return true;
  }
  g->general = true;
  int64_t stride = 1;
  std::vector<int64_t> strides(runs);
  for (size_t r = runs; r-- > 0;) {
    strides[r] = stride;
    stride *= size[r];
  }
  for (size_t r = 0; r < runs; ++r) {
    int& n = red[r] ? g->num_reduced : g->num_kept;
    if (n == kMaxReduceRuns) return false;
    (red[r] ? g->red_size : g->kept_size)[n] = size[r];
    (red[r] ? g->red_stride : g->kept_stride)[n] = strides[r];
    ++n;
  }
  return true;
}

}  // namespace kiln::cuda::norm
