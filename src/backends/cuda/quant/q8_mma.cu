// Kiln's int8 tensor-core GEMM with the requantization in its epilogue (qgemm.h, launch_q8_gemm_requant):
// mma.sync m16n8k32 (signed 8-bit, int32 accumulators in registers), block tiles of 128 x 64, 128 x 128 (warps of
// 64 x 32) or 256 x 128 (warps of 64 x 64), a 3-stage cp.async pipeline over 64-byte k steps, and an epilogue that
// applies the exact per-channel terms (term_scale, term_offset, the optional row sums) in double, so that every output
// equals the int32 path's bit for bit, then writes the 8-bit tile through shared memory: 16-byte stores for row-major
// outputs, pixel-contiguous bytes for NCHW ones.
//
// Why by hand: cuBLASLt's int8 kernels cannot write requantized int8 with a per-channel bias in the regular
// (non-COL32) layouts Hopper takes (int8 D allows no bias epilogue and no device alpha vector with beta zero), so
// every int8 layer would otherwise write and re-read 4-byte accumulators (docs/int8.md, "INT8 on CUDA").
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/mma_util.cuh"
#include "backends/cuda/quant/qgemm_device.cuh"

namespace kiln::cuda {
namespace {

constexpr int kBK = 64, kStages = 3;
constexpr int kLdS = kBK + 16;  // bytes per shared row: 16-byte aligned, and the 8 rows of one ldmatrix hit 8 banks

// A block tile of BM x BN outputs: warps of 64 x WN outputs (4 m16 tiles by WN / 8 n8 tiles each).
template <int BM_, int BN_, int WN>
struct MmaTile {
  static constexpr int kBM = BM_, kBN = BN_;
  static constexpr int kWarpsM = BM_ / 64, kWarpsN = BN_ / WN, kWarpN = WN;
  static constexpr int kMi = 4, kNi = WN / 8;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kMinBlocks = kThreads * (kNi * 16 + 64) <= 32768 ? 2 : 1;  // registers per SM allow
  static constexpr int kLdY = BN_ + 16;  // bytes per row of the staged output tile
  static constexpr size_t kStageBytes = size_t{BM_ + BN_} * kLdS;
  static constexpr size_t kSmemBytes = kStageBytes * kStages;
  static_assert(size_t{BM_} * kLdY <= kSmemBytes, "the output tile reuses the pipeline's shared memory");
};
using SmallTile = MmaTile<128, 64, 32>;  // N <= 64, or more blocks per SM
using MediumTile = MmaTile<128, 128, 32>;
using LargeTile = MmaTile<256, 128, 64>;  // 64 x 64 warp tiles: half the shared-memory reads per mma

// c += a (16 x 32, row) * b (32 x 8, col), signed 8-bit operands, int32 accumulators.
__device__ __forceinline__ void mma_s8(int32_t (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Where output pixel m's window starts in a channels-last input (implicit im2col): the image's first byte and the
// top-left input coordinate (iy0, ix0) of its taps; valid false for rows past the GEMM's m.
struct PixelOrigin {
  const int8_t* image = nullptr;
  int iy0 = 0, ix0 = 0;
  bool valid = false;
};
__device__ __forceinline__ PixelOrigin pixel_origin(const Q8GemmOperands& g, int64_t m) {
  const Q8ImplicitConv& v = g.conv;
  PixelOrigin o;
  o.valid = m < g.m;
  if (!o.valid) return o;
  const int64_t pixels = v.oh * v.ow, img = m / pixels, rem = m - img * pixels, oy = rem / v.ow, ox = rem - oy * v.ow;
  o.image = v.x + img * v.h * v.w * v.c;
  o.iy0 = static_cast<int>(oy * v.stride_h - v.pad_top);
  o.ix0 = static_cast<int>(ox * v.stride_w - v.pad_left);
  return o;
}
// Bit t set: tap t of the pixel at `o` falls outside the input (the implicit im2col zero-filled it).
__device__ __forceinline__ uint32_t outside_taps(const Q8ImplicitConv& v, const PixelOrigin& o) {
  uint32_t mask = 0;
  for (int ky = 0, t = 0; ky < v.kh; ++ky) {
    const int iy = o.iy0 + ky * static_cast<int>(v.dil_h);
    for (int kx = 0; kx < v.kw; ++kx, ++t) {
      const int ix = o.ix0 + kx * static_cast<int>(v.dil_w);
      if (iy < 0 || iy >= v.h || ix < 0 || ix >= v.w) mask |= 1u << t;
    }
  }
  return mask;
}

template <class T, bool kImplicit>
__global__ void __launch_bounds__(T::kThreads, T::kMinBlocks)
    q8_gemm_requant_kernel(Q8GemmOperands g, RequantParams p, int n_tiles) {
  constexpr int kBM = T::kBM, BN = T::kBN, kMi = T::kMi, kNi = T::kNi;
  extern __shared__ __align__(16) uint8_t smem[];
  const int64_t m0 = static_cast<int64_t>(blockIdx.x / n_tiles) * kBM;  // n tiles fastest: neighbours share a rows
  const int64_t n0 = static_cast<int64_t>(blockIdx.x % n_tiles) * BN;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / T::kWarpsN, wn = warp % T::kWarpsN;
  const int ktiles = static_cast<int>((g.kp + kBK - 1) / kBK);

  // Each thread copies the same 16-byte chunk column of kARows A rows (tid / 4 + j * kThreads / 4) every k step.
  constexpr int kChunks = kBK / 16, kARows = kBM * kChunks / T::kThreads;
  const int a_chunk = tid % kChunks;
  PixelOrigin origin[kImplicit ? kARows : 1];
  if constexpr (kImplicit) {
#pragma unroll
    for (int j = 0; j < kARows; ++j) origin[j] = pixel_origin(g, m0 + tid / kChunks + j * (T::kThreads / kChunks));
  }
  auto load = [&](int stage, int kt) {
    uint8_t* as = smem + stage * T::kStageBytes;
    const int64_t k0 = static_cast<int64_t>(kt) * kBK;
    if constexpr (kImplicit) {
      const Q8ImplicitConv& v = g.conv;
      const int64_t col = k0 + a_chunk * 16;
      const int64_t tap = col / v.c, ci = col - tap * v.c;
      const int ky = static_cast<int>(tap / v.kw), kx = static_cast<int>(tap - ky * v.kw);
#pragma unroll
      for (int j = 0; j < kARows; ++j) {
        const int row = tid / kChunks + j * (T::kThreads / kChunks);
        const int iy = origin[j].iy0 + ky * static_cast<int>(v.dil_h),
                  ix = origin[j].ix0 + kx * static_cast<int>(v.dil_w);
        const bool ok = origin[j].valid && col < g.kp && iy >= 0 && iy < v.h && ix >= 0 && ix < v.w;
        cp_async16(as + row * kLdS + a_chunk * 16,
                   ok ? origin[j].image + (static_cast<int64_t>(iy) * v.w + ix) * v.c + ci : v.x, ok ? 16 : 0);
      }
    }
    for (int i = kImplicit ? tid + kBM * kChunks : tid; i < (kBM + BN) * kChunks; i += T::kThreads) {
      const int row = i / kChunks, chunk = i % kChunks;
      const bool is_a = row < kBM;
      const int64_t grow = is_a ? m0 + row : n0 + (row - kBM), col = k0 + chunk * 16;
      const bool ok = col < g.kp && grow < (is_a ? g.m : g.n_rows);
      const int8_t* base = is_a ? g.a : g.w;
      cp_async16(as + row * kLdS + chunk * 16, ok ? base + grow * (is_a ? g.lda : g.ldw) + col : base, ok ? 16 : 0);
    }
  };

  int32_t acc[kMi][kNi][4] = {};  // [m16 tile][n8 tile][fragment]
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) load(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt landed for every thread; every warp is done with the stage refilled next
    const int next = kt + kStages - 1;
    if (next < ktiles) load(next % kStages, next);
    cp_async_commit();
    const uint8_t* as = smem + (kt % kStages) * T::kStageBytes;
    const uint8_t* bs = as + kBM * kLdS;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 32) {
      uint32_t af[kMi][4], bf[kNi / 2][4];
#pragma unroll
      for (int mi = 0; mi < kMi; ++mi)
        ldmatrix_x4(af[mi], as + (wm * 64 + mi * 16 + lane % 16) * kLdS + kk + (lane / 16) * 16);
#pragma unroll
      for (int nj = 0; nj < kNi / 2; ++nj)
        ldmatrix_x4(bf[nj],
                    bs + (wn * T::kWarpN + nj * 16 + (lane / 16) * 8 + lane % 8) * kLdS + kk + (lane / 8) % 2 * 16);
#pragma unroll
      for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
        for (int ni = 0; ni < kNi; ++ni)
          mma_s8(acc[mi][ni], af[mi], bf[ni / 2][(ni % 2) * 2], bf[ni / 2][(ni % 2) * 2 + 1]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the pipeline's shared memory becomes the output tile

  uint8_t* ys = smem;
  const Requant8 r8 = requant8_of(p);
  const int group = lane / 4, quad = lane % 4;
  // Implicit im2col: the taps each of this thread's 8 output rows read outside the input, and x's zero point.
  uint32_t outside[kMi][2] = {};
  int64_t x_zero = 0;
  if constexpr (kImplicit) {
    x_zero = zp_at(p.a_zp, 0, false);
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const PixelOrigin o = pixel_origin(g, m0 + wm * 64 + mi * 16 + group + h * 8);
        outside[mi][h] = o.valid ? outside_taps(g.conv, o) : 0u;
      }
  }
#pragma unroll
  for (int ni = 0; ni < kNi; ++ni)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int col = wn * T::kWarpN + ni * 8 + quad * 2 + j;
      const int64_t n = n0 + col;
      double scale = 0;
      int64_t offset = 0, zb = 0;
      if (n < p.n) {
        scale = p.term_scale[n];
        offset = p.term_offset[n];
        if (p.rowsum_a) zb = zp_at(p.b_zp, n, p.b_shifted);
      }
#pragma unroll
      for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = wm * 64 + mi * 16 + group + h * 8;
          int64_t v = static_cast<int64_t>(acc[mi][ni][h * 2 + j]) + offset;
          if (p.rowsum_a && m0 + row < g.m) v -= zb * p.rowsum_a[m0 + row];
          if constexpr (kImplicit) {
            if (outside[mi][h] && n < p.n) {
              const int taps = static_cast<int>(g.conv.kh * g.conv.kw);
              int64_t pad_sum = 0;
              for (uint32_t bits = outside[mi][h]; bits; bits &= bits - 1)
                pad_sum += g.conv.tap_sums[n * taps + __ffs(bits) - 1];
              v += x_zero * pad_sum;
            }
          }
          ys[row * T::kLdY + col] = requant8(r8, v, scale);
        }
    }
  __syncthreads();
  uint8_t* y = static_cast<uint8_t*>(p.y);
  if (p.rows_per_image > 0) {  // NCHW: row m = image * P + pixel goes to y[image][n][pixel], pixels contiguous
    for (int i = tid; i < kBM * BN; i += T::kThreads) {
      const int col = i / kBM, row = i % kBM;
      const int64_t m = m0 + row, n = n0 + col;
      if (m >= g.m || n >= p.n) continue;
      const int64_t image = m / p.rows_per_image, pixel = m - image * p.rows_per_image;
      y[(image * p.n + n) * p.rows_per_image + pixel] = ys[row * T::kLdY + col];
    }
    return;
  }
  const bool vec = g.ldy % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
  for (int i = tid; i < kBM * (BN / 16); i += T::kThreads) {
    const int row = i / (BN / 16), chunk = i % (BN / 16);
    const int64_t m = m0 + row, n = n0 + chunk * 16;
    if (m >= g.m || n >= p.n) continue;
    uint8_t* dst = y + m * g.ldy + n;
    const uint8_t* src = ys + row * T::kLdY + chunk * 16;
    if (vec && n + 16 <= p.n) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      for (int b = 0; b < 16 && n + b < p.n; ++b) dst[b] = src[b];
    }
  }
}

template <class T, bool kImplicit>
cudaError_t launch_tile(const Q8GemmOperands& g, const RequantParams& p, cudaStream_t stream) {
  const int64_t m_tiles = (g.m + T::kBM - 1) / T::kBM, n_tiles = (p.n + T::kBN - 1) / T::kBN;
  if (m_tiles * n_tiles > INT32_MAX) return cudaErrorInvalidValue;
  const cudaError_t attr =
      cudaFuncSetAttribute(q8_gemm_requant_kernel<T, kImplicit>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(T::kSmemBytes));
  if (attr != cudaSuccess) return attr;
  q8_gemm_requant_kernel<T, kImplicit>
      <<<static_cast<unsigned>(m_tiles * n_tiles), T::kThreads, T::kSmemBytes, stream>>>(g, p,
                                                                                         static_cast<int>(n_tiles));
  return cudaGetLastError();
}

__global__ void tap_sums_kernel(const int8_t* packed, int64_t rows, int64_t taps, int64_t c, int64_t kp,
                                int32_t* sums) {
  KILN_GRID_LOOP(i, rows * taps) {
    const int64_t r = i / taps, t = i - r * taps;
    const int8_t* p = packed + r * kp + t * c;
    int32_t s = 0;
    for (int64_t k = 0; k < c; ++k) s += p[k];
    sums[i] = s;
  }
}

// The implicit im2col's operands (Q8ImplicitConv's contract).
bool q8_implicit_conv_fits(const Q8GemmOperands& g) {
  const Q8ImplicitConv& v = g.conv;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(v.x) | reinterpret_cast<uintptr_t>(g.w);
  const int64_t big = int64_t{1} << 30;
  return v.x && v.tap_sums && addr % 16 == 0 && v.c % 16 == 0 && v.c > 0 && v.kh * v.kw <= 32 &&
         g.kp == v.kh * v.kw * v.c && g.ldw % 16 == 0 && g.ldw >= g.kp && g.m == v.n * v.oh * v.ow && v.h < big &&
         v.w < big && v.oh > 0 && v.ow > 0;
}

}  // namespace

bool q8_gemm_requant_fits(const Q8GemmOperands& g) {
  if (g.conv.x) return q8_implicit_conv_fits(g);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(g.a) | reinterpret_cast<uintptr_t>(g.w);
  return addr % 16 == 0 && g.lda % 16 == 0 && g.ldw % 16 == 0 && g.kp % 16 == 0 && g.kp > 0 && g.lda >= g.kp &&
         g.ldw >= g.kp;
}


cudaError_t launch_tap_sums_s8(const int8_t* packed, int64_t rows, int64_t taps, int64_t c, int64_t kp,
                               int32_t* tap_sums, cudaStream_t stream) {
  if (rows * taps == 0) return cudaSuccess;
  if (taps * c > kp) return cudaErrorInvalidValue;
  tap_sums_kernel<<<grid_for(rows * taps), kThreads, 0, stream>>>(packed, rows, taps, c, kp, tap_sums);
  return cudaGetLastError();
}

cudaError_t launch_q8_gemm_requant(const Q8GemmOperands& g, const RequantParams& p, Q8Tile tile, cudaStream_t stream) {
  if (g.m == 0 || p.n == 0) return cudaSuccess;
  if (!q8_gemm_requant_fits(g) || !p.term_scale || !p.term_offset || p.n > g.n_rows ||
      (p.rows_per_image == 0 && g.ldy < p.n) || (p.rows_per_image > 0 && g.m % p.rows_per_image != 0))
    return cudaErrorInvalidValue;
  const bool narrow = tile == Q8Tile::kNarrow || (tile == Q8Tile::kMedium && p.n <= 64);
  if (g.conv.x) {
    if (tile == Q8Tile::kLarge) return launch_tile<LargeTile, true>(g, p, stream);
    return narrow ? launch_tile<SmallTile, true>(g, p, stream) : launch_tile<MediumTile, true>(g, p, stream);
  }
  if (tile == Q8Tile::kLarge) return launch_tile<LargeTile, false>(g, p, stream);
  return narrow ? launch_tile<SmallTile, false>(g, p, stream) : launch_tile<MediumTile, false>(g, p, stream);
}

}  // namespace kiln::cuda
