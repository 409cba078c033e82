// Device code of TopK: one block per row; the row (padded to a power of two) is bitonic-sorted in shared memory
// as (key, index) pairs, then the first k are written out.
#include <cstdint>

#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ float sort_key(float v) { return v; }
__device__ __forceinline__ float sort_key(__half v) { return __half2float(v); }
__device__ __forceinline__ float sort_key(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ long long sort_key(int32_t v) { return v; }
__device__ __forceinline__ long long sort_key(int64_t v) { return v; }

__device__ __forceinline__ int cmp3(float a, float b) {
  const bool na = a != a, nb = b != b;
  if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  return (a > b) - (a < b);
}
__device__ __forceinline__ int cmp3(long long a, long long b) { return (a > b) - (a < b); }

// Whether element (ka, ia) comes before (kb, ib) in the output order; padding (index >= len) comes last.
template <class K>
__device__ __forceinline__ bool before(K ka, int ia, K kb, int ib, int len, bool largest) {
  const bool pa = ia >= len, pb = ib >= len;
  if (pa || pb) return !pa && pb;
  int c = cmp3(ka, kb);
  if (!largest) c = -c;
  return c > 0 || (c == 0 && ia < ib);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    top_k_rows(const T* __restrict__ x, T* __restrict__ values, int64_t* __restrict__ indices, int64_t len,
               int64_t inner, int64_t k, int n_pow2, bool largest) {
  using K = decltype(sort_key(T()));
  extern __shared__ __align__(16) unsigned char smem[];
  K* keys = reinterpret_cast<K*>(smem);
  int* idx = reinterpret_cast<int*>(smem + sizeof(K) * n_pow2);
  const int64_t o = blockIdx.x / inner, in = blockIdx.x % inner;
  const T* xr = x + o * len * inner + in;
  const int n = static_cast<int>(len);
  for (int i = threadIdx.x; i < n_pow2; i += blockDim.x) {
    keys[i] = i < n ? sort_key(xr[static_cast<int64_t>(i) * inner]) : K();
    idx[i] = i;
  }
  __syncthreads();
  for (int size = 2; size <= n_pow2; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < n_pow2; i += blockDim.x) {
        const int j = i ^ stride;
        if (j <= i) continue;
        const bool forward = (i & size) == 0;  // this pair ends up in output order (else reversed)
        const bool swap = forward ? before(keys[j], idx[j], keys[i], idx[i], n, largest)
                                  : before(keys[i], idx[i], keys[j], idx[j], n, largest);
        if (swap) {
          const K tk = keys[i];
          keys[i] = keys[j];
          keys[j] = tk;
          const int ti = idx[i];
          idx[i] = idx[j];
          idx[j] = ti;
        }
      }
      __syncthreads();
    }
  }
  for (int64_t t = threadIdx.x; t < k; t += blockDim.x) {
    const int64_t dst = (o * k + t) * inner + in;
    values[dst] = xr[static_cast<int64_t>(idx[t]) * inner];
    indices[dst] = idx[t];
  }
}

template <class T>
cudaError_t launch_typed(const void* x, void* values, int64_t* indices, int64_t outer, int64_t len, int64_t inner,
                         int64_t k, bool largest, cudaStream_t stream) {
  using K = decltype(sort_key(T()));
  int n_pow2 = 1;
  while (n_pow2 < len) n_pow2 <<= 1;
  const size_t smem = static_cast<size_t>(n_pow2) * (sizeof(K) + sizeof(int));
  const int threads = n_pow2 >= kThreads ? kThreads : (n_pow2 < 32 ? 32 : n_pow2);
  top_k_rows<T><<<static_cast<unsigned>(outer * inner), threads, smem, stream>>>(
      static_cast<const T*>(x), static_cast<T*>(values), indices, len, inner, k, n_pow2, largest);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_top_k(DType dtype, const void* x, void* values, int64_t* indices, int64_t outer, int64_t len,
                         int64_t inner, int64_t k, bool largest, cudaStream_t stream) {
  if (outer * inner == 0 || k == 0) return cudaSuccess;
  if (len > kTopKMaxLen || k > len) return cudaErrorInvalidValue;
  switch (dtype) {
    case DType::kFloat32:
      return launch_typed<float>(x, values, indices, outer, len, inner, k, largest, stream);
    case DType::kFloat16:
      return launch_typed<__half>(x, values, indices, outer, len, inner, k, largest, stream);
    case DType::kBFloat16:
      return launch_typed<__nv_bfloat16>(x, values, indices, outer, len, inner, k, largest, stream);
    case DType::kInt32:
      return launch_typed<int32_t>(x, values, indices, outer, len, inner, k, largest, stream);
    case DType::kInt64:
      return launch_typed<int64_t>(x, values, indices, outer, len, inner, k, largest, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::norm
