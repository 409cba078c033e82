// Device code of the CUDA LookupTable kernel: the 256-entry table in shared memory, four codes a thread from one
// 32-bit load when the pointers allow it, element-size-agnostic (the table's bytes are copied, never interpreted).
#include <algorithm>

#include "backends/cuda/device_common.cuh"
#include "backends/cuda/quant/lookup.h"

namespace kiln::cuda {

namespace {

// Four consecutive table elements, aligned for vector stores (at most 16 bytes).
template <typename E>
struct alignas(4 * sizeof(E) < 16 ? 4 * sizeof(E) : 16) Vec4 {
  E v[4];
};

// flip is 0x80 for int8 codes: x ^ 0x80 == x + 128 as an unsigned byte. vec4: x 4-byte and y Vec4-aligned.
template <typename E, typename Idx>
__global__ void __launch_bounds__(kThreads) lookup_kernel(const uint8_t* __restrict__ x, const E* __restrict__ table,
                                                          uint32_t flip, E* __restrict__ y, Idx n, bool vec4) {
  __shared__ E tab[256];
  for (int k = threadIdx.x; k < 256; k += blockDim.x) tab[k] = table[k];
  __syncthreads();
  const Idx start = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Idx stride = static_cast<Idx>(blockDim.x) * gridDim.x;
  Idx tail = 0;
  if (vec4) {
    const Idx n4 = n / 4;
    const uint32_t flip4 = flip * 0x01010101u;
    for (Idx v = start; v < n4; v += stride) {
      const uint32_t codes = reinterpret_cast<const uint32_t*>(x)[v] ^ flip4;  // little endian: code k in byte k
      Vec4<E> b;
#pragma unroll
      for (int k = 0; k < 4; ++k) b.v[k] = tab[(codes >> (8 * k)) & 0xffu];
      reinterpret_cast<Vec4<E>*>(y)[v] = b;
    }
    tail = n4 * 4;
  }
  for (Idx i = tail + start; i < n; i += stride) y[i] = tab[x[i] ^ flip];
}

template <typename E>
cudaError_t launch_as(const void* x, uint32_t flip, const void* table, void* y, int64_t n, cudaStream_t stream) {
  const bool vec4 = reinterpret_cast<uintptr_t>(x) % 4 == 0 && reinterpret_cast<uintptr_t>(y) % alignof(Vec4<E>) == 0;
  // Every block loads the table: cap the grid at a few waves of the GPU rather than one block per 1024 codes.
  const unsigned grid = std::min(grid_for(vec4 ? (n + 3) / 4 : n), 4096u);
  const auto* px = static_cast<const uint8_t*>(x);
  const auto* pt = static_cast<const E*>(table);
  auto* py = static_cast<E*>(y);
  if (n < (int64_t{1} << 31))
    lookup_kernel<E, uint32_t><<<grid, kThreads, 0, stream>>>(px, pt, flip, py, static_cast<uint32_t>(n), vec4);
  else
    lookup_kernel<E, int64_t><<<grid, kThreads, 0, stream>>>(px, pt, flip, py, n, vec4);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_lookup_table(const void* x, bool x_signed, const void* table, size_t elem_size, void* y, int64_t n,
                                cudaStream_t stream) {
  const uint32_t flip = x_signed ? 0x80u : 0u;
  KILN_ELEM_SWITCH(elem_size, return launch_as<E>(x, flip, table, y, n, stream);)
}

}  // namespace kiln::cuda
