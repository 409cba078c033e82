// Device code of ArgMax/ArgMin: a warp per row when the axis is innermost, else a thread per column.
// Order as in the reference: NaN is the largest value and equal to other NaNs.
#include <cstdint>

#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

__device__ __forceinline__ float key_of(float v) { return v; }
__device__ __forceinline__ float key_of(__half v) { return __half2float(v); }
__device__ __forceinline__ float key_of(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ long long key_of(int32_t v) { return v; }
__device__ __forceinline__ long long key_of(int64_t v) { return v; }

__device__ __forceinline__ int compare3(float a, float b) {
  const bool na = a != a, nb = b != b;
  if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  return (a > b) - (a < b);
}
__device__ __forceinline__ int compare3(long long a, long long b) { return (a > b) - (a < b); }

// True when candidate (v, i) should replace the current best (bv, bi).
template <class K>
__device__ __forceinline__ bool better(K v, int64_t i, K bv, int64_t bi, bool want_max, bool last) {
  int c = compare3(v, bv);
  if (!want_max) c = -c;
  if (c != 0) return c > 0;
  return last ? i > bi : i < bi;
}

template <class T>
__global__ void arg_rows_warp(const T* __restrict__ x, int64_t* __restrict__ y, int64_t rows, int64_t len,
                              bool want_max, bool last) {
  using K = decltype(key_of(T()));
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const T* xr = x + row * len;
  // Lanes beyond len start from element 0 with index 0, which any tie rule resolves consistently.
  K bv = key_of(xr[0]);
  int64_t bi = 0;
  for (int64_t c = lane; c < len; c += 32) {
    const K v = key_of(xr[c]);
    if (better(v, c, bv, bi, want_max, last)) {
      bv = v;
      bi = c;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const K ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi, want_max, last)) {
      bv = ov;
      bi = oi;
    }
  }
  if (lane == 0) y[row] = bi;
}

template <class T>
__global__ void arg_columns(const T* __restrict__ x, int64_t* __restrict__ y, int64_t outer, int64_t len, int64_t inner,
                            bool want_max, bool last) {
  using K = decltype(key_of(T()));
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t o = t / inner, in = t % inner;
  const T* xc = x + o * len * inner + in;
  K bv = key_of(xc[0]);
  int64_t bi = 0;
  for (int64_t j = 1; j < len; ++j) {
    const K v = key_of(xc[j * inner]);
    if (better(v, j, bv, bi, want_max, last)) {
      bv = v;
      bi = j;
    }
  }
  y[t] = bi;
}

template <class T>
void launch_typed(const void* xv, int64_t* y, int64_t outer, int64_t len, int64_t inner, bool want_max, bool last,
                  cudaStream_t stream) {
  const T* x = static_cast<const T*>(xv);
  if (inner == 1) {
    constexpr int kRowsPerBlock = 8;
    arg_rows_warp<T>
        <<<ceil_div_u(outer, kRowsPerBlock), kRowsPerBlock * 32, 0, stream>>>(x, y, outer, len, want_max, last);
  } else {
    arg_columns<T><<<ceil_div_u(outer * inner, 256), 256, 0, stream>>>(x, y, outer, len, inner, want_max, last);
  }
}

}  // namespace

cudaError_t launch_arg_reduce(DType dtype, const void* x, int64_t* y, int64_t outer, int64_t len, int64_t inner,
                              bool want_max, bool select_last, cudaStream_t stream) {
  if (outer * inner == 0 || len == 0) return cudaSuccess;
  switch (dtype) {
    case DType::kFloat32:
      launch_typed<float>(x, y, outer, len, inner, want_max, select_last, stream);
      break;
    case DType::kFloat16:
      launch_typed<__half>(x, y, outer, len, inner, want_max, select_last, stream);
      break;
    case DType::kBFloat16:
      launch_typed<__nv_bfloat16>(x, y, outer, len, inner, want_max, select_last, stream);
      break;
    case DType::kInt32:
      launch_typed<int32_t>(x, y, outer, len, inner, want_max, select_last, stream);
      break;
    case DType::kInt64:
      launch_typed<int64_t>(x, y, outer, len, inner, want_max, select_last, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
