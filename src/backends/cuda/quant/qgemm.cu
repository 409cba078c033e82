// Device code of the int8 GEMM path: packing to shifted int8 rows, row sums, im2col, requantization, and the direct
// grouped convolution (qgemm.h).
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/quant/qgemm.h"

namespace kiln::cuda {

namespace {

// The signed-8-bit value of element i (uint8 shifted by -128).
__device__ __forceinline__ int s8_at(const Q8Source& s, int64_t i) {
  return s.is_u8 ? static_cast<int>(static_cast<const uint8_t*>(s.data)[i]) - 128
                 : static_cast<int>(static_cast<const int8_t*>(s.data)[i]);
}

// Raw value of a zero point (element j, or 0 when j is past a per-tensor count), and shifted when asked.
__device__ __forceinline__ int zp_at(const QZeroPoint& z, int64_t j, bool shifted) {
  int v = 0;
  if (z.data) {
    const int64_t at = z.count == 1 ? 0 : j;
    v = z.is_u8 ? static_cast<int>(static_cast<const uint8_t*>(z.data)[at])
                : static_cast<int>(static_cast<const int8_t*>(z.data)[at]);
  }
  return shifted ? v - 128 : v;
}

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

__global__ void im2col_kernel(Im2ColParams p, int64_t total) {
  const int64_t kk = p.kh * p.kw, kreal = p.c_count * kk;
  int pad = 0;
  if (p.pad_value) pad = p.x.is_u8 ? static_cast<int>(*static_cast<const uint8_t*>(p.pad_value)) - 128
                                   : static_cast<int>(*static_cast<const int8_t*>(p.pad_value));
  KILN_GRID_LOOP(i, total) {
    const int64_t row = i / p.kp, col = i % p.kp;
    int v = 0;
    if (col < kreal) {
      const int64_t ox = row % p.ow, oy = (row / p.ow) % p.oh, img = row / (p.ow * p.oh);
      const int64_t c = col / kk, ky = (col / p.kw) % p.kh, kx = col % p.kw;
      const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h, ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
      v = (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w)
              ? pad
              : s8_at(p.x, ((img * p.c + p.c_begin + c) * p.h + iy) * p.w + ix);
    }
    p.dst[i] = static_cast<int8_t>(v);
  }
}

// The stored 8-bit value of exact integer sum `acc` (zero points and bias applied) in output channel n.
__device__ __forceinline__ uint8_t requant_value(const RequantParams& p, int64_t acc, int64_t n) {
  const float sa = *p.a_scale, sb = p.b_scale[p.b_scale_count == 1 ? 0 : n], sy = *p.y_scale;
  const double scale = p.scale_in_float ? static_cast<double>(__fdiv_rn(__fmul_rn(sa, sb), sy))
                                        : static_cast<double>(sa) * static_cast<double>(sb) / static_cast<double>(sy);
  double q = rint(static_cast<double>(acc) * scale) + zp_at(p.y_zp, 0, false);
  const double lo = p.y_is_u8 ? 0.0 : -128.0, hi = p.y_is_u8 ? 255.0 : 127.0;
  if (p.saturate || q != q) q = fmin(hi, fmax(lo, q != q ? 0.0 : q));
  // Wrap-around (saturate off) keeps the low byte, as the ONNX reference's astype does.
  const int64_t wide = fabs(q) < 9.2e18 ? static_cast<int64_t>(q) : 0;
  return static_cast<uint8_t>(wide & 0xff);
}

__global__ void requantize_kernel(RequantParams p, int64_t total) {
  KILN_GRID_LOOP(i, total) {
    // Output-ordered: consecutive threads write consecutive bytes of y.
    int64_t m, n;
    if (p.rows_per_image == 0) {
      m = i / p.n;
      n = i % p.n;
    } else {
      const int64_t per_image = p.n * p.rows_per_image;
      const int64_t img = i / per_image, rest = i % per_image;
      n = rest / p.rows_per_image;
      m = img * p.rows_per_image + rest % p.rows_per_image;
    }
    const int64_t za = zp_at(p.a_zp, 0, p.a_shifted), zb = zp_at(p.b_zp, n, p.b_shifted);
    int64_t acc = static_cast<int64_t>(p.acc[m * p.ldacc + n]) - za * p.colsum_b[n];
    if (p.rowsum_a) acc += -zb * p.rowsum_a[m] + p.k * za * zb;
    if (p.bias) acc += p.bias[n];
    const uint8_t v = requant_value(p, acc, n);
    int64_t out = i;
    if (p.rows_per_image != 0) {
      const int64_t img = m / p.rows_per_image, pix = m % p.rows_per_image;
      out = (img * p.channels_total + p.channel_offset + n) * p.rows_per_image + pix;
    }
    static_cast<uint8_t*>(p.y)[out] = v;
  }
}

__global__ void direct_qconv_kernel(DirectQConvParams p, RequantParams rq, int64_t total) {
  const int64_t cg = p.c / p.group, og = p.oc / p.group;
  KILN_GRID_LOOP(i, total) {
    const int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, o = (i / (p.ow * p.oh)) % p.oc, img = i / (p.ow * p.oh * p.oc);
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
          const int xv = s8_at(p.x, (xc + iy) * p.wd + ix) + (p.x.is_u8 ? 128 : 0);
          const int wv = s8_at(p.w, (wc + ky) * p.kw + kx) + (p.w.is_u8 ? 128 : 0);
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
  row_sums_kernel<<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(packed, rows,
                                                                                                        k, kp, sums);
  return cudaGetLastError();
}

cudaError_t launch_im2col_s8(const Im2ColParams& p, cudaStream_t stream) {
  const int64_t total = p.n * p.oh * p.ow * p.kp;
  if (total == 0) return cudaSuccess;
  im2col_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, total);
  return cudaGetLastError();
}

cudaError_t launch_requantize(const RequantParams& p, cudaStream_t stream) {
  const int64_t total = p.m * p.n;
  if (total == 0) return cudaSuccess;
  requantize_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, total);
  return cudaGetLastError();
}

cudaError_t launch_direct_qconv(const DirectQConvParams& p, const RequantParams& rq, cudaStream_t stream) {
  const int64_t total = p.n * p.oc * p.oh * p.ow;
  if (total == 0) return cudaSuccess;
  direct_qconv_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, rq, total);
  return cudaGetLastError();
}

}  // namespace kiln::cuda
