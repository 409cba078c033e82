// Device code of the int8 GEMM path: packing to shifted int8 rows, row sums, im2col, requantization, and the direct
// grouped convolution (qgemm.h).
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/quant/qgemm.h"
#include "backends/cuda/quant/qgemm_device.cuh"

namespace kiln::cuda {

namespace {

__global__ void pack_rows_kernel(Q8Source src, bool transposed, int64_t rows, int64_t k, int64_t kp, int64_t total,
                                 int8_t* dst) {
  KILN_GRID_LOOP(i, total) {
    const int64_t r = i / kp, c = i % kp;
    int v = 0;
    if (r < rows && c < k) v = s8_at(src, transposed ? c * rows + r : r * k + c);
    dst[i] = static_cast<int8_t>(v);
  }
}

// One warp per row.
__global__ void row_sums_kernel(const int8_t* packed, int64_t rows, int64_t k, int64_t kp, int32_t* sums) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= rows) return;
  const int8_t* row = packed + warp * kp;
  int32_t s = 0;
  for (int64_t c = lane; c < k; c += 32) s += row[c];
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  if (lane == 0) sums[warp] = s;
}

// One thread per 4 consecutive bytes of a row (kp is a multiple of 16): one 32-bit store; the (c, ky, kx) of the
// four columns advance incrementally from one division set. Idx: uint32_t when every offset fits.
template <typename Idx>
__global__ void im2col_kernel(Im2ColParams p, Idx words) {
  const Idx kk = static_cast<Idx>(p.kh * p.kw), kreal = static_cast<Idx>(p.c) * kk;
  const Idx kw = static_cast<Idx>(p.kw), kh = static_cast<Idx>(p.kh), ow = static_cast<Idx>(p.ow),
            oh = static_cast<Idx>(p.oh), words_per_row = static_cast<Idx>(p.kp / 4);
  const int h = static_cast<int>(p.h), w = static_cast<int>(p.w);
  int pad = 0;
  if (p.pad_value)
    pad = p.x.is_u8 ? static_cast<int>(*static_cast<const uint8_t*>(p.pad_value)) - 128
                    : static_cast<int>(*static_cast<const int8_t*>(p.pad_value));
  uint32_t* dst = reinterpret_cast<uint32_t*>(p.dst);
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < words;
       i += static_cast<Idx>(blockDim.x) * gridDim.x) {
    const Idx row = i / words_per_row, col0 = (i - row * words_per_row) * 4;
    uint32_t packed = 0;
    if (col0 < kreal) {
      const Idx ox = row % ow, oy = (row / ow) % oh, img = row / (ow * oh);
      Idx c = col0 / kk, rem = col0 - c * kk;
      Idx ky = rem / kw, kx = rem - ky * kw;
      const int iy0 = static_cast<int>(oy * p.stride_h - p.pad_top),
                ix0 = static_cast<int>(ox * p.stride_w - p.pad_left);
      const Idx plane = static_cast<Idx>(p.h * p.w);
      const Idx base = img * static_cast<Idx>(p.c) * plane;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        int v = 0;
        if (col0 + b < kreal) {
          const int iy = iy0 + static_cast<int>(ky * p.dil_h), ix = ix0 + static_cast<int>(kx * p.dil_w);
          v = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? pad
                                                       : s8_at(p.x, base + c * plane + static_cast<Idx>(iy * w + ix));
          if (++kx == kw) {
            kx = 0;
            if (++ky == kh) {
              ky = 0;
              ++c;
            }
          }
        }
        packed |= (static_cast<uint32_t>(v) & 0xffu) << (8 * b);
      }
    }
    dst[i] = packed;
  }
}

// The (raw) pad byte of an im2col: the input's zero point, shifted to int8 when the input is uint8.
__device__ __forceinline__ uint32_t im2col_pad_byte(const Im2ColParams& p) {
  if (!p.pad_value) return 0;
  const int v = p.x.is_u8 ? static_cast<int>(*static_cast<const uint8_t*>(p.pad_value)) - 128
                          : static_cast<int>(*static_cast<const int8_t*>(p.pad_value));
  return static_cast<uint32_t>(v) & 0xffu;
}

// Channels-last im2col, one thread per Vec (4 or 16 bytes) of a row; c is a multiple of sizeof(Vec), so a Vec
// never crosses taps, and so is kp. uint8 inputs are shifted by flipping each byte's top bit (v ^ 0x80 == v - 128).
template <typename Idx, typename Vec>
__global__ void im2col_nhwc_vec_kernel(Im2ColParams p, Idx vecs) {
  constexpr int kWords = sizeof(Vec) / 4;
  const Idx c = static_cast<Idx>(p.c), kw = static_cast<Idx>(p.kw), kreal = c * static_cast<Idx>(p.kh * p.kw);
  const Idx ow = static_cast<Idx>(p.ow), oh = static_cast<Idx>(p.oh), per_row = static_cast<Idx>(p.kp / sizeof(Vec));
  const int h = static_cast<int>(p.h), w = static_cast<int>(p.w);
  const uint32_t flip = p.x.is_u8 ? 0x80808080u : 0u, pad = im2col_pad_byte(p) * 0x01010101u;
  Vec* dst = reinterpret_cast<Vec*>(p.dst);
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs;
       i += static_cast<Idx>(blockDim.x) * gridDim.x) {
    const Idx row = i / per_row, col0 = (i - row * per_row) * static_cast<Idx>(sizeof(Vec));
    Vec v;
    uint32_t* words = reinterpret_cast<uint32_t*>(&v);
    uint32_t fill = 0;
    bool load = false;
    const uint8_t* src = nullptr;
    if (col0 < kreal) {
      const Idx tap = col0 / c, ci = col0 - tap * c, ky = tap / kw, kx = tap - ky * kw;
      const Idx ox = row % ow, oy = (row / ow) % oh, img = row / (ow * oh);
      const int iy = static_cast<int>(oy * p.stride_h - p.pad_top + ky * p.dil_h);
      const int ix = static_cast<int>(ox * p.stride_w - p.pad_left + kx * p.dil_w);
      if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
        load = true;
        src = static_cast<const uint8_t*>(p.x.data) +
              ((img * static_cast<Idx>(h) + static_cast<Idx>(iy)) * static_cast<Idx>(w) + static_cast<Idx>(ix)) * c +
              ci;
      } else {
        fill = pad;
      }
    }
    if (load) {
      v = *reinterpret_cast<const Vec*>(src);
#pragma unroll
      for (int k = 0; k < kWords; ++k) words[k] ^= flip;
    } else {
#pragma unroll
      for (int k = 0; k < kWords; ++k) words[k] = fill;
    }
    dst[i] = v;
  }
}

// Channels-last im2col for any c (the stem's 3 channels): one thread per 4 bytes of a row, (tap, channel) advanced
// byte by byte.
template <typename Idx>
__global__ void im2col_nhwc_bytes_kernel(Im2ColParams p, Idx words) {
  const Idx c = static_cast<Idx>(p.c), kw = static_cast<Idx>(p.kw), kreal = c * static_cast<Idx>(p.kh * p.kw);
  const Idx ow = static_cast<Idx>(p.ow), oh = static_cast<Idx>(p.oh), per_row = static_cast<Idx>(p.kp / 4);
  const int h = static_cast<int>(p.h), w = static_cast<int>(p.w);
  const uint32_t pad = im2col_pad_byte(p);
  uint32_t* dst = reinterpret_cast<uint32_t*>(p.dst);
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < words;
       i += static_cast<Idx>(blockDim.x) * gridDim.x) {
    const Idx row = i / per_row, col0 = (i - row * per_row) * 4;
    uint32_t packed = 0;
    if (col0 < kreal) {
      const Idx ox = row % ow, oy = (row / ow) % oh, img = row / (ow * oh);
      Idx tap = col0 / c, ci = col0 - tap * c;
      for (int b = 0; b < 4 && col0 + b < kreal; ++b) {
        const Idx ky = tap / kw, kx = tap - ky * kw;
        const int iy = static_cast<int>(oy * p.stride_h - p.pad_top + ky * p.dil_h);
        const int ix = static_cast<int>(ox * p.stride_w - p.pad_left + kx * p.dil_w);
        uint32_t v = pad;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
          v = static_cast<uint32_t>(s8_at(
                  p.x,
                  ((img * static_cast<Idx>(h) + static_cast<Idx>(iy)) * static_cast<Idx>(w) + static_cast<Idx>(ix)) *
                          c +
                      ci)) &
              0xffu;
        packed |= v << (8 * b);
        if (++ci == c) ci = 0, ++tap;
      }
    }
    dst[i] = packed;
  }
}

__device__ __forceinline__ uint8_t requant_value(const RequantParams& p, int64_t acc, int64_t n) {
  return requant_scaled(p, acc, p.term_scale ? p.term_scale[n] : combined_scale(p, n));
}

// The per-channel part of the correction: bias[n] - za * colsum_b[n] (+ k * za * zb[n] with row sums).
__device__ __forceinline__ int64_t channel_offset(const RequantParams& p, int64_t n) {
  const int64_t za = zp_at(p.a_zp, 0, p.a_shifted);
  int64_t v = -za * p.colsum_b[n];
  if (p.rowsum_a) v += p.k * za * zp_at(p.b_zp, n, p.b_shifted);
  if (p.bias) v += p.bias[n];
  return v;
}

// The exact integer sum of row m, column n: the shifted-operand product corrected by the zero-point sums, plus bias.
__device__ __forceinline__ int64_t corrected_acc(const RequantParams& p, int32_t acc, int64_t m, int64_t n) {
  int64_t v = static_cast<int64_t>(acc) + (p.term_offset ? p.term_offset[n] : channel_offset(p, n));
  if (p.rowsum_a) v -= static_cast<int64_t>(zp_at(p.b_zp, n, p.b_shifted)) * p.rowsum_a[m];
  return v;
}

__global__ void requant_terms_kernel(RequantParams p, double* scale, int64_t* offset) {
  KILN_GRID_LOOP(n, p.n) {
    scale[n] = combined_scale(p, n);
    offset[n] = channel_offset(p, n);
  }
}

// Row-major placement: y[m][n], one thread per output byte.
__global__ void requantize_rows_kernel(RequantParams p, int64_t total) {
  KILN_GRID_LOOP(i, total) {
    const int64_t m = i / p.n, n = i % p.n;
    static_cast<uint8_t*>(p.y)[i] = requant_value(p, corrected_acc(p, p.acc[m * p.ldacc + n], m, n), n);
  }
}

// Row-major placement, four outputs a thread (n and ldacc multiples of 4, y 4-byte aligned): one 16-byte
// accumulator load and one 4-byte store.
__global__ void requantize_rows4_kernel(RequantParams p, int64_t total4) {
  const int64_t n4 = p.n / 4;
  KILN_GRID_LOOP(i, total4) {
    const int64_t m = i / n4, n0 = (i - m * n4) * 4;
    const int4 a = *reinterpret_cast<const int4*>(p.acc + m * p.ldacc + n0);
    const int32_t av[4] = {a.x, a.y, a.z, a.w};
    uint32_t out = 0;
#pragma unroll
    for (int b = 0; b < 4; ++b)
      out |= static_cast<uint32_t>(requant_value(p, corrected_acc(p, av[b], m, n0 + b), n0 + b)) << (8 * b);
    reinterpret_cast<uint32_t*>(p.y)[i] = out;
  }
}

// NCHW placement: a 32-pixel x 32-channel tile through shared memory, so that the accumulator reads (channels
// contiguous) and the output writes (pixels contiguous) both coalesce. Block (32, 8); grid x: images x pixel tiles,
// y: channel tiles.
constexpr int kTile = 32, kTileRows = 8;
__global__ void requantize_nchw_kernel(RequantParams p, int64_t pixel_tiles) {
  __shared__ int32_t tile[kTile][kTile + 1];
  const int64_t pixels = p.rows_per_image;
  const int64_t img = blockIdx.x / pixel_tiles, p0 = (blockIdx.x % pixel_tiles) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const int64_t pix = p0 + j, n = n0 + threadIdx.x;
    if (pix < pixels && n < p.n) tile[j][threadIdx.x] = p.acc[(img * pixels + pix) * p.ldacc + n];
  }
  __syncthreads();
  uint8_t* y = static_cast<uint8_t*>(p.y);
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const int64_t n = n0 + j, pix = p0 + threadIdx.x;
    if (pix >= pixels || n >= p.n) continue;
    const int64_t m = img * pixels + pix;
    y[(img * p.n + n) * pixels + pix] = requant_value(p, corrected_acc(p, tile[threadIdx.x][j], m, n), n);
  }
}

__global__ void direct_qconv_kernel(DirectQConvParams p, RequantParams rq, int64_t total) {
  const int64_t cg = p.c / p.group, og = p.oc / p.group;
  KILN_GRID_LOOP(i, total) {
    int64_t ox, oy, o, img;
    if (p.channels_last) {
      o = i % p.oc, ox = (i / p.oc) % p.ow, oy = (i / (p.oc * p.ow)) % p.oh, img = i / (p.oc * p.ow * p.oh);
    } else {
      ox = i % p.ow, oy = (i / p.ow) % p.oh, o = (i / (p.ow * p.oh)) % p.oc, img = i / (p.ow * p.oh * p.oc);
    }
    const int64_t g = o / og;
    const int za = zp_at(rq.a_zp, 0, false), zb = zp_at(rq.b_zp, o, false);
    int32_t acc = 0;
    for (int64_t c = 0; c < cg; ++c) {
      const int64_t xc = (img * p.c + g * cg + c) * p.h;
      const int64_t wc = (o * cg + c) * p.kh;
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
        if (iy < 0 || iy >= p.h) continue;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
          if (ix < 0 || ix >= p.wd) continue;
          // Raw (unshifted) values here: the shift cancels in (x - zx).
          const int64_t xi =
              p.channels_last ? ((img * p.h + iy) * p.wd + ix) * p.c + g * cg + c : (xc + iy) * p.wd + ix;
          const int64_t wi = p.channels_last ? ((o * p.kh + ky) * p.kw + kx) * cg + c : (wc + ky) * p.kw + kx;
          const int xv = s8_at(p.x, xi) + (p.x.is_u8 ? 128 : 0);
          const int wv = s8_at(p.w, wi) + (p.w.is_u8 ? 128 : 0);
          acc += (xv - za) * (wv - zb);
        }
      }
    }
    int64_t total_acc = acc;
    if (rq.bias) total_acc += rq.bias[o];
    static_cast<uint8_t*>(rq.y)[i] = requant_value(rq, total_acc, o);
  }
}

}  // namespace

cudaError_t launch_pack_rows_s8(Q8Source src, bool src_transposed, int64_t rows, int64_t k, int64_t rows_pad,
                                int64_t kp, int8_t* dst, cudaStream_t stream) {
  const int64_t total = rows_pad * kp;
  if (total == 0) return cudaSuccess;
  pack_rows_kernel<<<grid_for(total), kThreads, 0, stream>>>(src, src_transposed, rows, k, kp, total, dst);
  return cudaGetLastError();
}

cudaError_t launch_row_sums_s8(const int8_t* packed, int64_t rows, int64_t k, int64_t kp, int32_t* sums,
                               cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  const int64_t threads = rows * 32;
  row_sums_kernel<<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(packed, rows, k,
                                                                                                       kp, sums);
  return cudaGetLastError();
}

namespace {

template <typename Vec>
cudaError_t launch_im2col_nhwc_vec(const Im2ColParams& p, bool small, cudaStream_t stream) {
  const int64_t vecs = p.n * p.oh * p.ow * p.kp / static_cast<int64_t>(sizeof(Vec));
  if (small)
    im2col_nhwc_vec_kernel<uint32_t, Vec><<<grid_for(vecs), kThreads, 0, stream>>>(p, static_cast<uint32_t>(vecs));
  else
    im2col_nhwc_vec_kernel<int64_t, Vec><<<grid_for(vecs), kThreads, 0, stream>>>(p, vecs);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_im2col_s8(const Im2ColParams& p, cudaStream_t stream) {
  if (p.kp % 4 != 0) return cudaErrorInvalidValue;
  const int64_t words = p.n * p.oh * p.ow * p.kp / 4;
  if (words == 0) return cudaSuccess;
  const int64_t in_total = p.n * p.c * p.h * p.w;
  if (p.channels_last) {
    const bool small = words < (int64_t{1} << 31) && in_total < (int64_t{1} << 31);
    const uintptr_t addr = reinterpret_cast<uintptr_t>(p.x.data) | reinterpret_cast<uintptr_t>(p.dst);
    if (p.c % 16 == 0 && p.kp % 16 == 0 && addr % 16 == 0) return launch_im2col_nhwc_vec<uint4>(p, small, stream);
    if (p.c % 4 == 0 && addr % 4 == 0) return launch_im2col_nhwc_vec<uint32_t>(p, small, stream);
    if (small)
      im2col_nhwc_bytes_kernel<uint32_t><<<grid_for(words), kThreads, 0, stream>>>(p, static_cast<uint32_t>(words));
    else
      im2col_nhwc_bytes_kernel<int64_t><<<grid_for(words), kThreads, 0, stream>>>(p, words);
    return cudaGetLastError();
  }
  if (words < (int64_t{1} << 31) && in_total < (int64_t{1} << 31))
    im2col_kernel<uint32_t><<<grid_for(words), kThreads, 0, stream>>>(p, static_cast<uint32_t>(words));
  else
    im2col_kernel<int64_t><<<grid_for(words), kThreads, 0, stream>>>(p, words);
  return cudaGetLastError();
}

cudaError_t launch_requantize(const RequantParams& p, cudaStream_t stream) {
  const int64_t total = p.m * p.n;
  if (total == 0) return cudaSuccess;
  if (p.rows_per_image == 0) {
    if (p.n % 4 == 0 && p.ldacc % 4 == 0 && reinterpret_cast<uintptr_t>(p.y) % 4 == 0 &&
        reinterpret_cast<uintptr_t>(p.acc) % 16 == 0)
      requantize_rows4_kernel<<<grid_for(total / 4), kThreads, 0, stream>>>(p, total / 4);
    else
      requantize_rows_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, total);
    return cudaGetLastError();
  }
  if (p.m % p.rows_per_image != 0) return cudaErrorInvalidValue;
  const int64_t pixel_tiles = (p.rows_per_image + kTile - 1) / kTile;
  const int64_t channel_tiles = (p.n + kTile - 1) / kTile;
  const int64_t blocks = p.m / p.rows_per_image * pixel_tiles;
  if (blocks > INT32_MAX || channel_tiles > 65535) return cudaErrorInvalidValue;
  requantize_nchw_kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(channel_tiles)),
                           dim3(kTile, kTileRows), 0, stream>>>(p, pixel_tiles);
  return cudaGetLastError();
}

cudaError_t launch_requant_terms(const RequantParams& p, double* scale, int64_t* offset, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  requant_terms_kernel<<<grid_for(p.n), kThreads, 0, stream>>>(p, scale, offset);
  return cudaGetLastError();
}

cudaError_t launch_direct_qconv(const DirectQConvParams& p, const RequantParams& rq, cudaStream_t stream) {
  const int64_t total = p.n * p.oc * p.oh * p.ow;
  if (total == 0) return cudaSuccess;
  direct_qconv_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, rq, total);
  return cudaGetLastError();
}

}  // namespace kiln::cuda
