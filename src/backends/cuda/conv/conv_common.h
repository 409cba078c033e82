// Helpers shared by the conv family's host files: dtype checks, cuDNN dim conversion, workspace layout.
#pragma once
#include <climits>
#include <vector>

#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/epilogue_host.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// ElemType of input i, or an unimplemented error naming the node.
Result<ElemType> conv_float_input(const CudaKernelContext& ctx, size_t i, const char* name);
// Every known input type among `which` is a CUDA float dtype (for supports()).
bool known_types_are_float(const std::vector<const TypeInfo*>& types, std::initializer_list<size_t> which);
// False when input i's rank is known and outside [lo, hi] (those nodes stay on the reference backend).
bool known_rank_within(const std::vector<const TypeInfo*>& types, size_t i, size_t lo, size_t hi);
// Dims as cuDNN ints; an error when a value does not fit.
Result<std::vector<int>> to_cudnn_dims(const CudaKernelContext& ctx, const Dims& d);
// Byte size rounded up so that what follows in a shared workspace stays 256-byte aligned.
inline size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }
// Kiln's own conv-family kernels: the depthwise convolution tactic (depthwise.cu) and the vectorized, split
// channels-last global pool (pool.cu); KILN_CUDA_OWN_KERNELS=0 leaves convolutions to cuDNN alone and global pools to
// the former one-thread-per-channel kernel (comparisons, diagnosis). GPU tests: GpuConvDepthwise,
// GpuPool.GlobalPoolsChannelsLastLarge (passed on one H200, 2026-12-05).
bool own_cuda_kernels_enabled();
// Fills a window copy between row-major tensors of dims `src` and `dst` (same rank <= kMaxCopyRank).
WindowCopyParams window_copy_params(const void* src, const Dims& src_dims, void* dst, const Dims& dst_dims,
                                    const Dims& offset, ElemType t);

}  // namespace kiln::cuda
