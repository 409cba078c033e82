// Device code of CUDA Concat's row kernel: every output row is the inputs' rows side by side; one launch moves a
// group of up to kConcatGroup inputs as the widest vectors their row widths and addresses allow.
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

// Row widths and offsets in units of V; out row `row` gets input j's row at [start[j], start[j + 1]).
struct ConcatGroupDesc {
  int k = 0;
  const void* src[kConcatGroup] = {};
  int64_t start[kConcatGroup + 1] = {};
  int64_t out_row = 0;  // output row pitch
  int64_t first = 0;    // where this group's columns begin in the output row
};

template <typename V, typename I>
__global__ void concat_rows_kernel(V* __restrict__ out, const __grid_constant__ ConcatGroupDesc d, I cols, I n) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    const I row = i / cols;
    const I col = i - row * cols;
    int j = 0;
    while (j + 1 < d.k && col >= static_cast<I>(d.start[j + 1])) ++j;
    const I lo = static_cast<I>(d.start[j]);
    const I width = static_cast<I>(d.start[j + 1]) - lo;
    out[static_cast<I>(d.first) + row * static_cast<I>(d.out_row) + col] =
        static_cast<const V*>(d.src[j])[row * width + col - lo];
  }
}

template <typename V>
cudaError_t launch_group(void* out, const ConcatGroupDesc& d, int64_t rows, cudaStream_t s) {
  const int64_t cols = d.start[d.k];
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  if (rows * d.out_row < (int64_t{1} << 31))
    concat_rows_kernel<V, uint32_t>
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<V*>(out), d, static_cast<uint32_t>(cols), static_cast<uint32_t>(n));
  else
    concat_rows_kernel<V, int64_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<V*>(out), d, cols, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_concat_rows(void* out, const void* const* srcs, const int64_t* row_bytes, int k, int64_t rows,
                               cudaStream_t s) {
  int64_t out_row = 0;
  uintptr_t addr = reinterpret_cast<uintptr_t>(out);
  for (int j = 0; j < k; ++j) {
    out_row += row_bytes[j];
    if (row_bytes[j] > 0) addr |= reinterpret_cast<uintptr_t>(srcs[j]) | static_cast<uintptr_t>(row_bytes[j]);
  }
  int64_t v = 16;
  while (v > 1 && (addr % static_cast<uintptr_t>(v) != 0)) v /= 2;
  int64_t first = 0;
  for (int j0 = 0; j0 < k; j0 += kConcatGroup) {
    ConcatGroupDesc d;
    d.out_row = out_row / v;
    d.first = first / v;
    for (int j = j0; j < k && d.k < kConcatGroup; ++j) {
      d.src[d.k] = srcs[j];
      d.start[d.k + 1] = d.start[d.k] + row_bytes[j] / v;
      first += row_bytes[j];
      ++d.k;
    }
    cudaError_t e;
    switch (v) {
      case 16: e = launch_group<uint4>(out, d, rows, s); break;
      case 8: e = launch_group<uint2>(out, d, rows, s); break;
      case 4: e = launch_group<uint32_t>(out, d, rows, s); break;
      case 2: e = launch_group<uint16_t>(out, d, rows, s); break;
      default: e = launch_group<uint8_t>(out, d, rows, s); break;
    }
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace kiln::cuda
