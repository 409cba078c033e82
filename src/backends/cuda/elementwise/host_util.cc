// Host helpers shared by the elementwise and data CUDA kernels.
#include "backends/cuda/elementwise/host_util.h"

#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {

Status launch_status(const CudaKernelContext& ctx, cudaError_t e, const char* what) {
  if (e == cudaSuccess) return ok_status();
  return cuda_status(e, what).with_context(ctx.node().describe());
}

DType type_dtype(const std::vector<const TypeInfo*>& types, size_t i) {
  if (i >= types.size() || types[i] == nullptr) return DType::kUndefined;
  return types[i]->dtype;
}

bool dtype_in(const std::vector<const TypeInfo*>& types, size_t i, std::initializer_list<DType> allowed) {
  const DType t = type_dtype(types, i);
  if (t == DType::kUndefined) return true;
  for (DType a : allowed)
    if (a == t) return true;
  return false;
}

Status read_ints(CudaKernelContext& ctx, size_t i, const char* what, std::vector<int64_t>* out) {
  if (!ctx.has_input(i)) return ctx.error(std::string("input '") + what + "' is required");
  KILN_ASSIGN_OR_RETURN(Tensor t, ctx.host_input(i));
  out->clear();
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return ctx.error(std::string("input '") + what + "' must be int32 or int64, got " + dtype_name(t.dtype()));
  for (int64_t k = 0; k < t.numel(); ++k) out->push_back(t.as_int64(k));
  return ok_status();
}

Status normalize_axis(const CudaKernelContext& ctx, int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank)
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  *out = axis < 0 ? axis + rank : axis;
  return ok_status();
}

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace kiln::cuda
