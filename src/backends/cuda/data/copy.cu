// Device code of the CUDA copy kernels: strided gather-copy (Transpose, Slice, Expand, Tile, DepthToSpace) with a
// space-to-depth fast path, the tiled batched transpose, and fill.
#include <algorithm>

#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

// I is the index type: uint32_t when every input offset and the element count fit (divisions by 32-bit dims cost
// a fraction of 64-bit ones, which were most of this kernel's time), else int64_t.
template <typename E, bool kMod, typename I>
__global__ void strided_copy_kernel(const E* __restrict__ in, E* __restrict__ out, StridedDesc d, I n) {
  // Dims and strides are read from the parameter bank each time (local arrays indexed by r would spill).
  const I base = static_cast<I>(d.base);
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    I rem = i, off = base;
    for (int r = d.rank - 1; r >= 0; --r) {
      const I dim = static_cast<I>(d.dims[r]);
      const I q = rem / dim;
      I c = rem - q * dim;
      rem = q;
      if constexpr (kMod) {
        if (d.mods[r] > 0) c %= static_cast<I>(d.mods[r]);
      }
      off += c * static_cast<I>(d.strides[r]);
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

// NCHW [N, C, Hp, Wp] -> space-to-depth NHWC [N, Hp/2, Wp/2, 2, 2, C] (the stem input layout_nhwc builds): one
// thread per output pixel reads its 2x2 block as C * 2 pairs (each pair one aligned load, coalesced along x) and
// writes its 4C elements with 16-byte (else 8-, 4-byte) stores.
template <typename E, int kC, typename I>
__global__ void space_to_depth_nhwc_kernel(const E* __restrict__ in, E* __restrict__ out, I h2, I w2, I pixels) {
  using Pair = typename UIntOf<2 * sizeof(E)>::type;
  constexpr int kRowBytes = 4 * kC * static_cast<int>(sizeof(E));
  using Vec = std::conditional_t<
      kRowBytes % 16 == 0, uint4,
      std::conditional_t<kRowBytes % 8 == 0, uint2, std::conditional_t<kRowBytes % 4 == 0, uint32_t, E>>>;
  const I wp = 2 * w2, plane = 2 * h2 * wp;
  for (I p = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; p < pixels;
       p += static_cast<I>(gridDim.x) * blockDim.x) {
    const I x = p % w2, t = p / w2;
    const I y = t % h2, n = t / h2;
    union {
      Vec vec[kRowBytes / sizeof(Vec)];
      E e[4 * kC];
    } row;
    const E* src = in + n * kC * plane + 2 * y * wp + 2 * x;
#pragma unroll
    for (int by = 0; by < 2; ++by)
#pragma unroll
      for (int c = 0; c < kC; ++c) {
        const Pair v = *reinterpret_cast<const Pair*>(src + c * plane + by * wp);
        E pair[2];
        memcpy(pair, &v, sizeof(v));
        row.e[(by * 2) * kC + c] = pair[0];
        row.e[(by * 2 + 1) * kC + c] = pair[1];
      }
    Vec* dst = reinterpret_cast<Vec*>(out + p * (4 * kC));
#pragma unroll
    for (int i = 0; i < static_cast<int>(kRowBytes / sizeof(Vec)); ++i) dst[i] = row.vec[i];
  }
}

template <typename E>
__global__ void fill_kernel(E* out, int64_t n, E v) {
  KILN_GRID_LOOP(i, n) out[i] = v;
}

template <typename E, int kC>
cudaError_t launch_space_to_depth_nhwc(const void* in, void* out, int64_t h2, int64_t w2, int64_t pixels,
                                       cudaStream_t s) {
  if (pixels * 4 * kC < INT32_MAX)
    space_to_depth_nhwc_kernel<E, kC, uint32_t><<<grid_for(pixels), kThreads, 0, s>>>(
        static_cast<const E*>(in), static_cast<E*>(out), static_cast<uint32_t>(h2), static_cast<uint32_t>(w2),
        static_cast<uint32_t>(pixels));
  else
    space_to_depth_nhwc_kernel<E, kC, int64_t>
        <<<grid_for(pixels), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), h2, w2, pixels);
  return cudaGetLastError();
}

// The space-to-depth pattern in a strided-copy descriptor: output dims [(N,) H2, W2, 2, 2, C] reading an NCHW
// [N, C, 2*H2, 2*W2] input (strides [C*Hp*Wp,] 2*Wp, 2, Wp, 1, Hp*Wp). Runs it and returns true when it applies.
bool try_space_to_depth_nhwc(size_t es, const void* in, void* out, const StridedDesc& d, int64_t n, cudaStream_t s,
                             cudaError_t* err) {
  const int r = d.rank;
  if ((r != 5 && r != 6) || d.base != 0 || (es != 2 && es != 4)) return false;
  const int64_t* dm = d.dims + (r - 5);
  const int64_t* st = d.strides + (r - 5);
  const int64_t h2 = dm[0], w2 = dm[1], c = dm[4], wp = 2 * w2, hp = 2 * h2;
  if (dm[2] != 2 || dm[3] != 2 || c < 1 || c > 4) return false;
  if (st[0] != 2 * wp || st[1] != 2 || st[2] != wp || st[3] != 1 || st[4] != hp * wp) return false;
  if (r == 6 && d.strides[0] != c * hp * wp) return false;
  for (int i = 0; i < r; ++i)
    if (d.mods[i] > 0) return false;
  const int64_t pixels = n / (4 * c);
  // Pair loads need 2-element alignment of the input; the row stores at most 16 bytes of the output.
  if (reinterpret_cast<uintptr_t>(in) % (2 * es) != 0 || reinterpret_cast<uintptr_t>(out) % 16 != 0) return false;
#define KILN_S2D_CASE(kC)                                                                  \
  case kC:                                                                                 \
    *err = es == 2 ? launch_space_to_depth_nhwc<uint16_t, kC>(in, out, h2, w2, pixels, s)  \
                   : launch_space_to_depth_nhwc<uint32_t, kC>(in, out, h2, w2, pixels, s); \
    return true;
  switch (c) {
    KILN_S2D_CASE(1)
    KILN_S2D_CASE(2)
    KILN_S2D_CASE(3)
    KILN_S2D_CASE(4)
    default:
      return false;
  }
#undef KILN_S2D_CASE
}

}  // namespace

namespace {

// The widest access (16, 8 or 4 bytes, at least es) that moves the innermost dim of `d` whole: it must be contiguous
// in the input (stride 1, no modulo), and its row bytes, every other stride, the base and both pointers must be
// multiples of the width. Transpose/Slice/Expand/Tile rows of 8+ bytes then move as vectors, not element by element.
size_t vector_width(size_t es, const StridedDesc& d, const void* in, const void* out) {
  const int last = d.rank - 1;
  if (last < 0 || d.strides[last] != 1 || d.mods[last] > 0) return es;
  for (size_t v : {size_t{16}, size_t{8}, size_t{4}}) {
    if (v <= es) break;
    bool ok = (d.dims[last] * es) % v == 0 && (d.base * es) % v == 0 &&
              reinterpret_cast<uintptr_t>(in) % v == 0 && reinterpret_cast<uintptr_t>(out) % v == 0;
    for (int r = 0; ok && r < last; ++r) ok = (d.strides[r] * es) % v == 0;
    if (ok) return v;
  }
  return es;
}

// The largest input offset the copy reads, plus one (0 for an empty copy). Negative strides (Slice with negative
// steps, counted down from the base) only lower offsets. With 32-bit indices their products wrap modulo 2^32, which
// still lands on the right offset because every true offset lies in [0, 2^31).
int64_t input_extent(const StridedDesc& d) {
  int64_t hi = d.base;
  for (int r = 0; r < d.rank; ++r) {
    const int64_t reach = d.mods[r] > 0 ? std::min(d.dims[r], d.mods[r]) : d.dims[r];
    if (reach <= 0) return 0;
    if (d.strides[r] > 0) hi += (reach - 1) * d.strides[r];
  }
  return hi + 1;
}

template <typename E>
cudaError_t launch_strided_copy_typed(const void* in, void* out, const StridedDesc& d, int64_t n, cudaStream_t s) {
  bool mod = false;
  for (int r = 0; r < d.rank; ++r) mod = mod || d.mods[r] > 0;
  const bool narrow = n < INT32_MAX && input_extent(d) < INT32_MAX;
  const E* src = static_cast<const E*>(in);
  E* dst = static_cast<E*>(out);
  if (narrow && mod)
    strided_copy_kernel<E, true, uint32_t><<<grid_for(n), kThreads, 0, s>>>(src, dst, d, static_cast<uint32_t>(n));
  else if (narrow)
    strided_copy_kernel<E, false, uint32_t><<<grid_for(n), kThreads, 0, s>>>(src, dst, d, static_cast<uint32_t>(n));
  else if (mod)
    strided_copy_kernel<E, true, int64_t><<<grid_for(n), kThreads, 0, s>>>(src, dst, d, n);
  else
    strided_copy_kernel<E, false, int64_t><<<grid_for(n), kThreads, 0, s>>>(src, dst, d, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_strided_copy(size_t es, const void* in, void* out, const StridedDesc& desc, int64_t n,
                                cudaStream_t s) {
  cudaError_t s2d_err;
  if (try_space_to_depth_nhwc(es, in, out, desc, n, s, &s2d_err)) return s2d_err;
  if (n <= 0) return cudaSuccess;
  StridedDesc d = desc;
  const size_t v = vector_width(es, d, in, out);
  if (v != es) {
    // Re-express the copy in v-byte units: the innermost dim shrinks by v/es, every other stride and the base too.
    const int64_t f = static_cast<int64_t>(v / es);
    const int last = d.rank - 1;
    d.dims[last] /= f;
    for (int r = 0; r < last; ++r) d.strides[r] /= f;
    d.base /= f;
    n /= f;
    es = v;
  }
  switch (es) {
    case 1:
      return launch_strided_copy_typed<uint8_t>(in, out, d, n, s);
    case 2:
      return launch_strided_copy_typed<uint16_t>(in, out, d, n, s);
    case 4:
      return launch_strided_copy_typed<uint32_t>(in, out, d, n, s);
    case 8:
      return launch_strided_copy_typed<uint64_t>(in, out, d, n, s);
    case 16:
      return launch_strided_copy_typed<uint4>(in, out, d, n, s);
    default:
      return cudaErrorInvalidValue;
  }
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
