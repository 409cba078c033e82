// Launch function of the CUDA Cast kernel (device code in cast.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// Whether the CUDA Cast handles this dtype (float32/16/bf16/64, int8, uint8, int32, int64, bool).
bool cuda_cast_dtype(DType t);

// y = Cast(x) elementwise, n > 0, with the reference backend's rules: floats narrow with round-to-nearest-even
// (no double rounding), float -> int truncates toward zero and keeps the low bits of the int64 value
// (NaN -> 0, beyond int64 -> INT64_MIN's bits), anything -> bool is "nonzero" (NaN is true).
cudaError_t launch_cast(DType from, DType to, const void* x, void* y, int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda
