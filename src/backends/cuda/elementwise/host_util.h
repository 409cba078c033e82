// Host helpers shared by the elementwise and data CUDA kernels: launch-error reporting, dtype checks
// for `supports`, and reading small integer inputs.
#pragma once
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// ok, or the CUDA error of a launch naming the node.
Status launch_status(const CudaKernelContext& ctx, cudaError_t e, const char* what);

// Dtype of input i from build-time type info, or kUndefined when unknown.
DType type_dtype(const std::vector<const TypeInfo*>& types, size_t i);
// True when input i's dtype is unknown or one of `allowed`.
bool dtype_in(const std::vector<const TypeInfo*>& types, size_t i, std::initializer_list<DType> allowed);

// Input i (an int32/int64 tensor) as int64 values, read on the host.
Status read_ints(CudaKernelContext& ctx, size_t i, const char* what, std::vector<int64_t>* out);

// Normalizes a possibly negative axis into [0, rank); error naming the node when out of range.
Status normalize_axis(const CudaKernelContext& ctx, int64_t axis, int64_t rank, int64_t* out);

std::string ints_str(const std::vector<int64_t>& v);

}  // namespace kiln::cuda
