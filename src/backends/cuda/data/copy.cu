// Device code of the CUDA copy kernels: strided gather-copy (Transpose, Slice, Expand, Tile, DepthToSpace),
// the tiled batched transpose, and fill.
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

template <typename E, bool kMod>
__global__ void strided_copy_kernel(const E* __restrict__ in, E* __restrict__ out, StridedDesc d, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    int64_t rem = i, off = d.base;
    for (int r = d.rank - 1; r >= 0; --r) {
      const int64_t q = rem / d.dims[r];
      int64_t c = rem - q * d.dims[r];
      rem = q;
      if constexpr (kMod) {
        if (d.mods[r] > 0) c %= d.mods[r];
      }
      off += c * d.strides[r];
    }
    out[i] = in[off];
  }
}

constexpr int kTile = 32;
constexpr int kRowsPerPass = 8;

// One 32x32 tile per block, read along cols and written along rows (both coalesced); +1 pad avoids bank conflicts.
template <typename E>
__global__ void transpose_tiled_kernel(const E* __restrict__ in, E* __restrict__ out, int64_t rows, int64_t cols,
                                       int64_t tiles_r, int64_t tiles_c, int64_t num_tiles) {
  __shared__ E tile[kTile][kTile + 1];
  for (int64_t t = blockIdx.x; t < num_tiles; t += gridDim.x) {
    const int64_t b = t / (tiles_r * tiles_c);
    const int64_t rt = (t / tiles_c) % tiles_r;
    const int64_t ct = t % tiles_c;
    const E* src = in + b * rows * cols;
    E* dst = out + b * rows * cols;
    const int64_t c = ct * kTile + threadIdx.x;
    for (int y = threadIdx.y; y < kTile; y += kRowsPerPass) {
      const int64_t r = rt * kTile + y;
      if (r < rows && c < cols) tile[y][threadIdx.x] = src[r * cols + c];
    }
    __syncthreads();
    const int64_t r2 = rt * kTile + threadIdx.x;
    for (int y = threadIdx.y; y < kTile; y += kRowsPerPass) {
      const int64_t c2 = ct * kTile + y;
      if (r2 < rows && c2 < cols) dst[c2 * rows + r2] = tile[threadIdx.x][y];
    }
    __syncthreads();
  }
}

// Batched [rows, cols] -> [cols, rows] for few rows (an image's 3 channels to channels-last): one thread per output
// element, so writes are coalesced and each read stream is too; a 32x32 tile would leave most threads idle.
template <typename E, typename I>
__global__ void transpose_narrow_kernel(const E* __restrict__ in, E* __restrict__ out, I rows, I cols, I n) {
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I per = rows * cols;
    const I b = i / per, rem = i - b * per;
    const I c = rem / rows, r = rem - c * rows;
    out[i] = in[b * per + r * cols + c];
  }
}

template <typename E>
__global__ void fill_kernel(E* out, int64_t n, E v) {
  KILN_GRID_LOOP(i, n) out[i] = v;
}

}  // namespace

cudaError_t launch_strided_copy(size_t es, const void* in, void* out, const StridedDesc& d, int64_t n, cudaStream_t s) {
  bool mod = false;
  for (int r = 0; r < d.rank; ++r) mod = mod || d.mods[r] > 0;
#define KILN_BODY                                                                                 \
  if (mod)                                                                                        \
    strided_copy_kernel<E, true>                                                                  \
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), d, n); \
  else                                                                                            \
    strided_copy_kernel<E, false>                                                                 \
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), d, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_transpose_tiled(size_t es, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols,
                                   cudaStream_t s) {
  if (rows <= 8 && cols > rows) {
    const int64_t n = batch * rows * cols;
    // 32-bit index arithmetic when it fits: 64-bit division is most of this kernel's cost.
#define KILN_BODY                                                                                                  \
  if (n < INT32_MAX)                                                                                               \
    transpose_narrow_kernel<E, uint32_t><<<grid_for(n), kThreads, 0, s>>>(                                         \
        static_cast<const E*>(in), static_cast<E*>(out), static_cast<uint32_t>(rows), static_cast<uint32_t>(cols), \
        static_cast<uint32_t>(n));                                                                                 \
  else                                                                                                             \
    transpose_narrow_kernel<E, int64_t>                                                                            \
        <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), rows, cols, n);         \
  return cudaGetLastError();
    KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
  }
  const int64_t tr = (rows + kTile - 1) / kTile, tc = (cols + kTile - 1) / kTile;
  const int64_t tiles = batch * tr * tc;
  const unsigned grid = static_cast<unsigned>(tiles < 65535 * 8 ? tiles : 65535 * 8);
  const dim3 block(kTile, kRowsPerPass);
#define KILN_BODY                                                                                          \
  transpose_tiled_kernel<E>                                                                                \
      <<<grid, block, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), rows, cols, tr, tc, tiles); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_fill(size_t es, void* out, int64_t n, const void* value, cudaStream_t s) {
#define KILN_BODY                                                              \
  E v;                                                                         \
  memcpy(&v, value, sizeof(E));                                                \
  fill_kernel<E><<<grid_for(n), kThreads, 0, s>>>(static_cast<E*>(out), n, v); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

}  // namespace kiln::cuda
