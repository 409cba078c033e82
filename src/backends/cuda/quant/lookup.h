// Launch function of the CUDA LookupTable kernel (device code in lookup.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace kiln::cuda {

// y[i] = table[x[i]] for n > 0 bytes of x read as uint8 codes (x_signed: int8 codes, table[x[i] + 128]). table holds
// 256 elements of elem_size bytes (1, 2, 4 or 8; others return cudaErrorInvalidValue), y n such elements; all
// pointers are device memory.
cudaError_t launch_lookup_table(const void* x, bool x_signed, const void* table, size_t elem_size, void* y, int64_t n,
                                cudaStream_t stream);

}  // namespace kiln::cuda
