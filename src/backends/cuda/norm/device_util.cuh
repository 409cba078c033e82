// Device helpers of the norm family: loads/stores of float32/float16/bfloat16 as float, warp/block reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/device_common.cuh"
#include <cuda_runtime.h>

#include <cstdint>

namespace kiln::cuda::norm {

constexpr float kInfF = __builtin_huge_valf();

// NaN-propagating max/min (a NaN anywhere makes the result NaN, as the reference kernels do).
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }
__device__ __forceinline__ float nan_min(float a, float b) { return (a != a || a < b) ? a : b; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max; every thread of the block must call it; all get the result. blockDim.x % 32 == 0.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < nwarps ? part[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < nwarps ? part[lane] : -kInfF;
  return warp_max(v);
}

// Four consecutive elements loaded or stored as one 8- or 16-byte access (the address must be aligned to it).
template <class T>
struct alignas(4 * sizeof(T)) Vec4 {
  T v[4];
};

// Reductions over the kThreadsPerRow threads sharing a row: a warp (32) or the whole block (any other value).
template <int kThreadsPerRow>
__device__ __forceinline__ float row_sum(float v) {
  if constexpr (kThreadsPerRow == 32) {
    return warp_sum(v);
  } else {
    return block_sum(v);
  }
}
template <int kThreadsPerRow>
__device__ __forceinline__ float row_max(float v) {
  if constexpr (kThreadsPerRow == 32) {
    return warp_max(v);
  } else {
    return block_max(v);
  }
}

inline bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

inline unsigned ceil_div_u(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace kiln::cuda::norm
