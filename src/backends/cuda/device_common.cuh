// Shared device helpers for CUDA kernels: float16/bfloat16 loads and stores as float, grid-stride
// launch sizing, and the broadcast descriptor (per-input strides over the output's dims).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "backends/cuda/elementwise/broadcast.h"

namespace kiln::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (n > 0): enough to fill the GPU, never more than needed.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  const int64_t cap = 65536;
  return static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b));
}

// Grid-stride loop over [0, n).
#define KILN_GRID_LOOP(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// The same with 32-bit indices, for n < 2^31 (the grid stride stays below 2^26, so i never wraps): index math that
// divides is several times cheaper in 32 bits.
#define KILN_GRID_LOOP32(i, n)                                                                             \
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x, i##_n = static_cast<uint32_t>(n); i < i##_n; \
       i += blockDim.x * gridDim.x)

// Loads/stores that compute in float for float, __half and __nv_bfloat16 storage (the one copy every family uses).
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// An unsigned integer type of each element size, for dtype-agnostic data movement.
template <int kBytes>
struct UIntOf;
template <>
struct UIntOf<1> {
  using type = uint8_t;
};
template <>
struct UIntOf<2> {
  using type = uint16_t;
};
template <>
struct UIntOf<4> {
  using type = uint32_t;
};
template <>
struct UIntOf<8> {
  using type = uint64_t;
};

// Offsets of output element i in each of the K inputs.
template <int K>
__device__ __forceinline__ void broadcast_offsets(const BroadcastDesc<K>& d, int64_t i, int64_t (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int r = d.rank - 1; r >= 0; --r) {
    const int64_t n = d.dims[r];
    const int64_t q = i / n;
    const int64_t c = i - q * n;
    i = q;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += c * d.strides[k][r];
  }
}

// Whether a pointer is aligned for 16-byte vector access (host and device).
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
__device__ __forceinline__ bool aligned16_dev(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Runs MACRO (a statement list that returns) with `E` bound to the unsigned type of `es` bytes; other sizes
// return cudaErrorInvalidValue.
#define KILN_ELEM_SWITCH(es, MACRO) \
  switch (es) {                     \
    case 1: {                       \
      using E = uint8_t;            \
      MACRO                         \
    }                               \
    case 2: {                       \
      using E = uint16_t;           \
      MACRO                         \
    }                               \
    case 4: {                       \
      using E = uint32_t;           \
      MACRO                         \
    }                               \
    case 8: {                       \
      using E = uint64_t;           \
      MACRO                         \
    }                               \
    default:                        \
      return cudaErrorInvalidValue; \
  }

}  // namespace kiln::cuda
