// Device code of constant-mode Pad by output rows: each warp walks whole rows of the last axis, so the multi-index
// of a row is computed once per row instead of once per element (the NCHW image Pad of the space-to-depth stem).
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

// Output rows are [out_dims[0..rank-2]]; row r reads input row `src_row` or is all fill. One warp per row: each lane
// loads kUnroll columns before storing any, so enough bytes are in flight for 2-byte elements to reach full
// bandwidth. 32-bit column math: rows are far shorter than 2^31 elements (pad_by_rows_applies checks).
constexpr int kRowsPerBlock = 8;
constexpr int kUnroll = 4;

template <typename E>
__global__ void pad_constant_rows_kernel(const E* __restrict__ in, E* __restrict__ out, PadDesc d, E value,
                                         int64_t rows) {
  const int last = d.rank - 1;
  const int out_w = static_cast<int>(d.out_dims[last]), in_w = static_cast<int>(d.in_dims[last]);
  const int begin_w = static_cast<int>(d.pad_begin[last]);
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    int64_t rem = r, src_row = 0, stride = 1;
    bool fill = false;
    for (int a = last - 1; a >= 0; --a) {
      const int64_t q = rem / d.out_dims[a];
      const int64_t s = rem - q * d.out_dims[a] - d.pad_begin[a];
      rem = q;
      fill = fill || s < 0 || s >= d.in_dims[a];
      src_row += s * stride;
      stride *= d.in_dims[a];
    }
    E* dst = out + r * out_w;
    const E* src = in + (fill ? 0 : src_row * in_w);
    for (int c0 = lane; c0 < out_w; c0 += 32 * kUnroll) {
      E v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int s = c0 + 32 * u - begin_w;
        v[u] = !fill && s >= 0 && s < in_w ? src[s] : value;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (c0 + 32 * u < out_w) dst[c0 + 32 * u] = v[u];
    }
  }
}

}  // namespace

bool pad_by_rows_applies(const PadDesc& d, int mode) {
  if (mode != 0 || d.rank < 2) return false;
  const int64_t w = d.out_dims[d.rank - 1];
  // Rows of at least a warp keep threads busy; shorter rows (NHWC channel pads) have their own kernels.
  return w >= 32 && w < (int64_t{1} << 30) && d.in_dims[d.rank - 1] < (int64_t{1} << 30) &&
         d.pad_begin[d.rank - 1] > -(int64_t{1} << 30) && d.pad_begin[d.rank - 1] < (int64_t{1} << 30);
}

cudaError_t launch_pad_constant_rows(size_t es, const void* in, void* out, const PadDesc& d, const void* value,
                                     int64_t n, cudaStream_t s) {
  const int64_t rows = n / d.out_dims[d.rank - 1];
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < (int64_t{1} << 20) ? blocks : (int64_t{1} << 20));
#define KILN_BODY                                                                                        \
  E v;                                                                                                   \
  memcpy(&v, value, sizeof(E));                                                                          \
  pad_constant_rows_kernel<E>                                                                            \
      <<<grid, 32 * kRowsPerBlock, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), d, v, rows); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

}  // namespace kiln::cuda
