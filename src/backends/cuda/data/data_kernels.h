// Host entry points of the CUDA data-movement family (registered in register.cc), and the shared
// permute helper that Transpose, DepthToSpace and SpaceToDepth use.
#pragma once
#include <vector>

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// Whether the data kernels can move this dtype (fixed size of 1, 2, 4 or 8 bytes).
bool movable_dtype(DType t);
bool supports_movable(const Node& node, const std::vector<const TypeInfo*>& types);  // input 0 movable
// Input 0 is a tensor (or unknown) that can live on the device: not a string or sequence.
bool supports_device_tensor(const Node& node, const std::vector<const TypeInfo*>& types);

Status run_identity(CudaKernelContext& ctx);
Status run_reshape(CudaKernelContext& ctx);
Status run_flatten(CudaKernelContext& ctx);
Status run_squeeze(CudaKernelContext& ctx);
Status run_unsqueeze(CudaKernelContext& ctx);

// out = in (dims in_dims) transposed by perm (out dim i = in dim perm[i]); picks the tiled kernel when the
// permutation collapses to a batched swap of the last two dims.
Status permute(CudaKernelContext& ctx, const void* in, const Dims& in_dims, const std::vector<int64_t>& perm,
               size_t elem_size, void* out);
Status run_transpose(CudaKernelContext& ctx);
bool supports_transpose(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_pixel_shuffle(CudaKernelContext& ctx);  // DepthToSpace, SpaceToDepth

Status run_concat(CudaKernelContext& ctx);
Status run_split(CudaKernelContext& ctx);
Status run_slice(CudaKernelContext& ctx);
Status run_expand(CudaKernelContext& ctx);
Status run_tile(CudaKernelContext& ctx);

Status run_gather(CudaKernelContext& ctx);
Status run_gather_elements(CudaKernelContext& ctx);
Status run_gather_nd(CudaKernelContext& ctx);
Status run_scatter_elements(CudaKernelContext& ctx);
Status run_scatter_nd(CudaKernelContext& ctx);
bool supports_scatter(const Node& node, const std::vector<const TypeInfo*>& types);

Status run_resize(CudaKernelContext& ctx);
bool supports_resize(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_pad(CudaKernelContext& ctx);
bool supports_pad(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_constant_of_shape(CudaKernelContext& ctx);
bool supports_constant_of_shape(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_range(CudaKernelContext& ctx);
bool supports_range(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_trilu(CudaKernelContext& ctx);
Status run_eye_like(CudaKernelContext& ctx);
bool supports_eye_like(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_one_hot(CudaKernelContext& ctx);
bool supports_one_hot(const Node& node, const std::vector<const TypeInfo*>& types);
Status run_cumsum(CudaKernelContext& ctx);
bool supports_cumsum(const Node& node, const std::vector<const TypeInfo*>& types);

}  // namespace kiln::cuda
