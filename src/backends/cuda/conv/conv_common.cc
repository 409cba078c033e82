// Shared host helpers of the conv family.
#include "backends/cuda/conv/conv_common.h"

#include <cstdlib>
#include <string>

namespace kiln::cuda {

Result<ElemType> conv_float_input(const CudaKernelContext& ctx, size_t i, const char* name) {
  auto t = elem_type_of(ctx.input_dtype(i));
  if (!t)
    return ctx.unsupported(std::string("input ") + name + " dtype " + dtype_name(ctx.input_dtype(i)) +
                           " (float32, float16, bfloat16 only)");
  return *t;
}

bool known_types_are_float(const std::vector<const TypeInfo*>& types, std::initializer_list<size_t> which) {
  for (size_t i : which)
    if (i < types.size() && types[i] && types[i]->dtype != DType::kUndefined && !is_float_dtype(types[i]->dtype))
      return false;
  return true;
}

bool known_rank_within(const std::vector<const TypeInfo*>& types, size_t i, size_t lo, size_t hi) {
  if (i >= types.size() || !types[i] || !types[i]->shape.rank_known) return true;
  const size_t r = types[i]->shape.rank();
  return r >= lo && r <= hi;
}

Result<std::vector<int>> to_cudnn_dims(const CudaKernelContext& ctx, const Dims& d) {
  std::vector<int> out;
  for (int64_t v : d) {
    if (v < 0 || v > INT_MAX) return ctx.unsupported("dimension " + std::to_string(v) + " is too large for cuDNN");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

WindowCopyParams window_copy_params(const void* src, const Dims& src_dims, void* dst, const Dims& dst_dims,
                                    const Dims& offset, ElemType t) {
  WindowCopyParams p;
  p.src = src;
  p.dst = dst;
  p.type = t;
  p.rank = static_cast<int>(dst_dims.size());
  for (size_t d = 0; d < dst_dims.size(); ++d) {
    p.src_dims[d] = src_dims[d];
    p.dst_dims[d] = dst_dims[d];
    p.offset[d] = offset[d];
  }
  return p;
}

bool own_cuda_kernels_enabled() {
  const char* v = std::getenv("KILN_CUDA_OWN_KERNELS");
  return !(v && std::string(v) == "0");
}

}  // namespace kiln::cuda
