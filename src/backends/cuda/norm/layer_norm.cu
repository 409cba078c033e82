// Device code of LayerNormalization, RMSNormalization and GroupNormalization. Statistics in float32, two-pass
// (mean, then centered sum of squares) for accuracy. A warp per row (cached in registers) up to 1024 columns,
// a block per row beyond; a block per (n, group) for GroupNormalization.
#include <cuda_fp8.h>

#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

// FusedAddLayerNorm's extras. The optional addend: `rows` rows of the row length, row r of X adding row r % rows.
// The optional float8 copy of Y (fp8, null: none): QuantizeLinear(Y, fp8_scale) to float8e4m3fn, saturating, of Y
// as stored in T; the quotient is rounded to T first when fp8_round (QuantizeLinear's rule for a 16-bit scale).
template <class T>
struct Residual {
  const T* data = nullptr;
  int64_t rows = 1;
  uint8_t* fp8 = nullptr;
  float fp8_scale = 1.f;
  bool fp8_round = false;
  __device__ __forceinline__ const T* row(int64_t r, int64_t cols) const {
    return data ? data + (r % rows) * cols : nullptr;
  }
  __device__ __forceinline__ uint8_t to_fp8(T y) const {
    float v = __fdiv_rn(to_f32(y), fp8_scale);
    if (fp8_round) v = to_f32(from_f32<T>(v));
    return __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
  }
};

template <class T, class P, int kPerLane>
__global__ void layer_norm_warp(const T* __restrict__ x, const P* __restrict__ scale, const P* __restrict__ bias,
                                T* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_out,
                                int64_t rows, int cols, float eps, bool rms, Residual<T> res) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const T* xr = x + row * cols;
  const T* rr = res.row(row, cols);
  T* yr = y ? y + row * cols : nullptr;
  float v[kPerLane];
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    v[i] = c < cols ? to_f32(xr[c]) + (rr ? to_f32(rr[c]) : 0.f) : 0.f;
    s += v[i];
  }
  const float mu = rms ? 0.f : warp_sum(s) / cols;
  float s2 = 0.f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    if (c < cols) s2 += (v[i] - mu) * (v[i] - mu);
  }
  s2 = warp_sum(s2);
  const float inv = 1.f / sqrtf(s2 / cols + eps);
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    if (c < cols) {
      float r = (v[i] - mu) * inv * to_f32(scale[c]);
      if (bias) r += to_f32(bias[c]);
      const T o = from_f32<T>(r);
      if (y) yr[c] = o;
      if (res.fp8) res.fp8[row * cols + c] = res.to_fp8(o);
    }
  }
  if (lane == 0) {
    if (mean_out) mean_out[row] = mu;
    if (inv_out) inv_out[row] = inv;
  }
}

template <class T, class P>
__global__ void layer_norm_block(const T* __restrict__ x, const P* __restrict__ scale, const P* __restrict__ bias,
                                 T* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_out,
                                 int64_t cols, float eps, bool rms, Residual<T> res) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  const T* rr = res.row(row, cols);
  T* yr = y ? y + row * cols : nullptr;
  auto at = [&](int64_t c) { return to_f32(xr[c]) + (rr ? to_f32(rr[c]) : 0.f); };
  float mu = 0.f;
  if (!rms) {
    float s = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += at(c);
    mu = block_sum(s) / cols;
  }
  float s2 = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = at(c) - mu;
    s2 += d * d;
  }
  s2 = block_sum(s2);
  const float inv = 1.f / sqrtf(s2 / cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float r = (at(c) - mu) * inv * to_f32(scale[c]);
    if (bias) r += to_f32(bias[c]);
    const T o = from_f32<T>(r);
    if (yr) yr[c] = o;
    if (res.fp8) res.fp8[row * cols + c] = res.to_fp8(o);
  }
  if (threadIdx.x == 0) {
    if (mean_out) mean_out[row] = mu;
    if (inv_out) inv_out[row] = inv;
  }
}

template <class T, class P>
__global__ void group_norm_block(const T* __restrict__ x, const P* __restrict__ scale, const P* __restrict__ bias,
                                 T* __restrict__ y, int64_t c, int64_t spatial, int64_t groups, bool per_channel,
                                 float eps) {
  const int64_t ng = blockIdx.x;  // n * groups + g
  const int64_t g = ng % groups, cpg = c / groups, size = cpg * spatial;
  const T* xg = x + ng * size;
  T* yg = y + ng * size;
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < size; k += blockDim.x) s += to_f32(xg[k]);
  const float mu = size ? block_sum(s) / size : 0.f;
  float s2 = 0.f;
  for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
    const float d = to_f32(xg[k]) - mu;
    s2 += d * d;
  }
  s2 = block_sum(s2);
  const float inv = 1.f / sqrtf((size ? s2 / size : 0.f) + eps);
  for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
    const int64_t p = per_channel ? g * cpg + k / spatial : g;
    yg[k] = from_f32<T>((to_f32(xg[k]) - mu) * inv * to_f32(scale[p]) + to_f32(bias[p]));
  }
}

template <class T, class P, int kPerLane>
void launch_ln_warp(const T* x, const P* scale, const P* bias, T* y, float* mean, float* inv, int64_t rows, int cols,
                    float eps, bool rms, Residual<T> res, cudaStream_t stream) {
  constexpr int kRowsPerBlock = 4;
  layer_norm_warp<T, P, kPerLane><<<ceil_div_u(rows, kRowsPerBlock), kRowsPerBlock * 32, 0, stream>>>(
      x, scale, bias, y, mean, inv, rows, cols, eps, rms, res);
}

// Elements per 16-byte access: 8 of a 16-bit type, 4 floats.
template <class T>
constexpr int kVecWidth = 16 / static_cast<int>(sizeof(T));

// W consecutive elements loaded or stored as one access (16 bytes of T; parameters in float32 with a 16-bit T
// take two accesses). The address must be aligned to the whole vector.
template <class T, int W>
struct alignas(W * sizeof(T)) VecW {
  T v[W];
};

// Vectorized variant for cols % W == 0 and aligned rows and parameters: kThreadsPerRow threads (a warp, or a
// whole block) share a row, each caching kChunks groups of W elements in registers; every access is 16 bytes wide.
// kPreload (few rows, e.g. a batch-1 transformer: the kernel is one latency chain, not bandwidth): Scale/B are
// loaded together with the row instead of after its statistics, taking their (often DRAM) latency off the chain.
// With many rows the extra registers would cost occupancy, so they are loaded last.
template <class T, class P, int kThreadsPerRow, int kChunks, bool kPreload>
__global__ void layer_norm_vec(const T* __restrict__ x, const P* __restrict__ scale, const P* __restrict__ bias,
                               T* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_out,
                               int64_t rows, int cols, float eps, bool rms, Residual<T> res) {
  constexpr int W = kVecWidth<T>;
  using XV = VecW<T, W>;
  using PV = VecW<P, W>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kThreadsPerRow) + threadIdx.x / kThreadsPerRow;
  if (row >= rows) return;  // a whole row group leaves together (a block variant has one row per block)
  const int t = threadIdx.x % kThreadsPerRow;
  const int chunks = cols / W;
  const PV* sv = reinterpret_cast<const PV*>(scale);
  const PV* bv = reinterpret_cast<const PV*>(bias);
  PV sc_pre[kPreload ? kChunks : 1], bi_pre[kPreload ? kChunks : 1];
  if constexpr (kPreload) {
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      const int c = t + i * kThreadsPerRow;
      if (c < chunks) {
        sc_pre[i] = sv[c];
        if (bias) bi_pre[i] = bv[c];
      }
    }
  }
  const XV* xr = reinterpret_cast<const XV*>(x + row * cols);
  const XV* rr = reinterpret_cast<const XV*>(res.row(row, cols));
  XV* yr = y ? reinterpret_cast<XV*>(y + row * cols) : nullptr;
  using QV = VecW<uint8_t, W>;  // W float8 codes: one 8- or 4-byte store
  QV* qr = res.fp8 ? reinterpret_cast<QV*>(res.fp8 + row * cols) : nullptr;
  float v[kChunks][W];
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = t + i * kThreadsPerRow;
    if (c < chunks) {
      const XV q = xr[c];
      XV a;
      if (rr) a = rr[c];
#pragma unroll
      for (int e = 0; e < W; ++e) {
        v[i][e] = to_f32(q.v[e]) + (rr ? to_f32(a.v[e]) : 0.f);
        s += v[i][e];
      }
    } else {
#pragma unroll
      for (int e = 0; e < W; ++e) v[i][e] = 0.f;
    }
  }
  const float mu = rms ? 0.f : row_sum<kThreadsPerRow>(s) / cols;
  float s2 = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    if (t + i * kThreadsPerRow < chunks) {
#pragma unroll
      for (int e = 0; e < W; ++e) s2 += (v[i][e] - mu) * (v[i][e] - mu);
    }
  }
  s2 = row_sum<kThreadsPerRow>(s2);
  const float inv = 1.f / sqrtf(s2 / cols + eps);
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = t + i * kThreadsPerRow;
    if (c >= chunks) continue;
    PV sc, bi;
    if constexpr (kPreload) {
      sc = sc_pre[i];
      bi = bi_pre[i];
    } else {
      sc = sv[c];
      if (bias) bi = bv[c];
    }
    XV o;
#pragma unroll
    for (int e = 0; e < W; ++e) {
      float r = (v[i][e] - mu) * inv * to_f32(sc.v[e]);
      if (bias) r += to_f32(bi.v[e]);
      o.v[e] = from_f32<T>(r);
    }
    if (yr) yr[c] = o;
    if (qr) {
      QV q;
#pragma unroll
      for (int e = 0; e < W; ++e) q.v[e] = res.to_fp8(o.v[e]);
      qr[c] = q;
    }
  }
  if (t == 0) {
    if (mean_out) mean_out[row] = mu;
    if (inv_out) inv_out[row] = inv;
  }
}

// Rows up to which the warp-per-row variants preload Scale/B (BERT at batch 1 has 128, at batch 64 8192).
constexpr int64_t kPreloadMaxRows = 1024;

template <class T, class P, int kThreadsPerRow, int kChunks>
void launch_ln_vec(const T* x, const P* scale, const P* bias, T* y, float* mean, float* inv, int64_t rows, int cols,
                   float eps, bool rms, Residual<T> res, cudaStream_t stream) {
  constexpr int kBlock = kThreadsPerRow == 32 ? 128 : kThreadsPerRow;
  const unsigned grid = ceil_div_u(rows, kBlock / kThreadsPerRow);
  if constexpr (kThreadsPerRow == 32) {
    if (rows <= kPreloadMaxRows) {
      layer_norm_vec<T, P, kThreadsPerRow, kChunks, true>
          <<<grid, kBlock, 0, stream>>>(x, scale, bias, y, mean, inv, rows, cols, eps, rms, res);
      return;
    }
  }
  layer_norm_vec<T, P, kThreadsPerRow, kChunks, false>
      <<<grid, kBlock, 0, stream>>>(x, scale, bias, y, mean, inv, rows, cols, eps, rms, res);
}

// Picks a vectorized configuration (the fewest chunks per thread that cover a row); false when the row shape or
// alignment does not allow one.
template <class T, class P>
bool try_ln_vec(const T* x, const P* s, const P* b, T* y, float* mean, float* inv, int64_t rows, int64_t cols,
                float eps, bool rms, Residual<T> res, cudaStream_t stream) {
  constexpr int W = kVecWidth<T>;
  if (cols % W != 0 || cols > 2048 * W || !aligned_to(x, 16) || !aligned_to(y, 16) || !aligned_to(res.data, 16) ||
      !aligned_to(res.fp8, W) ||
      !aligned_to(s, W * sizeof(P)) || (b && !aligned_to(b, W * sizeof(P))))
    return false;
  const int c = static_cast<int>(cols), chunks = c / W;
  if (chunks <= 32)
    launch_ln_vec<T, P, 32, 1>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 64)
    launch_ln_vec<T, P, 32, 2>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 96)
    launch_ln_vec<T, P, 32, 3>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 128)
    launch_ln_vec<T, P, 32, 4>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 192)
    launch_ln_vec<T, P, 32, 6>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 256)
    launch_ln_vec<T, P, 32, 8>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else if (chunks <= 1024)
    launch_ln_vec<T, P, 256, 4>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  else
    launch_ln_vec<T, P, 256, 8>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  return true;
}

template <class T, class P>
void launch_ln(const void* xv, const void* sv, const void* bv, void* yv, float* mean, float* inv, int64_t rows,
               int64_t cols, float eps, bool rms, const void* residual, int64_t residual_rows, LayerNormFp8 fp8,
               cudaStream_t stream) {
  const Residual<T> res{static_cast<const T*>(residual), residual_rows, static_cast<uint8_t*>(fp8.y), fp8.scale,
                        fp8.round_to_x};
  const T* x = static_cast<const T*>(xv);
  const P* s = static_cast<const P*>(sv);
  const P* b = static_cast<const P*>(bv);
  T* y = static_cast<T*>(yv);
  if (try_ln_vec<T, P>(x, s, b, y, mean, inv, rows, cols, eps, rms, res, stream)) return;
  const int c = static_cast<int>(cols);
  if (cols <= 32) return launch_ln_warp<T, P, 1>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  if (cols <= 64) return launch_ln_warp<T, P, 2>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  if (cols <= 128) return launch_ln_warp<T, P, 4>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  if (cols <= 256) return launch_ln_warp<T, P, 8>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  if (cols <= 512) return launch_ln_warp<T, P, 16>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  if (cols <= 1024) return launch_ln_warp<T, P, 32>(x, s, b, y, mean, inv, rows, c, eps, rms, res, stream);
  layer_norm_block<T, P><<<static_cast<unsigned>(rows), cols >= 8192 ? 1024 : 512, 0, stream>>>(x, s, b, y, mean, inv,
                                                                                                cols, eps, rms, res);
}

template <class T, class P>
void launch_gn(const void* x, const void* s, const void* b, void* y, int64_t n, int64_t c, int64_t spatial,
               int64_t groups, bool per_channel, float eps, cudaStream_t stream) {
  const int64_t size = c / groups * spatial;
  const int threads = size >= 8192 ? 1024 : size >= 1024 ? 512 : 128;
  group_norm_block<T, P><<<static_cast<unsigned>(n * groups), threads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const P*>(s), static_cast<const P*>(b), static_cast<T*>(y), c, spatial,
      groups, per_channel, eps);
}

// Calls F<T, P>::go(args...) for the runtime (dtype, param_dtype) pair; false for unsupported dtypes.
template <template <class, class> class F, class T, class... A>
bool with_param(DType p, A... a) {
  switch (p) {
    case DType::kFloat32:
      F<T, float>::go(a...);
      return true;
    case DType::kFloat16:
      F<T, __half>::go(a...);
      return true;
    case DType::kBFloat16:
      F<T, __nv_bfloat16>::go(a...);
      return true;
    default:
      return false;
  }
}
template <template <class, class> class F, class... A>
bool with_types(DType t, DType p, A... a) {
  switch (t) {
    case DType::kFloat32:
      return with_param<F, float>(p, a...);
    case DType::kFloat16:
      return with_param<F, __half>(p, a...);
    case DType::kBFloat16:
      return with_param<F, __nv_bfloat16>(p, a...);
    default:
      return false;
  }
}

template <class T, class P>
struct LayerNormLauncher {
  template <class... A>
  static void go(A... a) {
    launch_ln<T, P>(a...);
  }
};
template <class T, class P>
struct GroupNormLauncher {
  template <class... A>
  static void go(A... a) {
    launch_gn<T, P>(a...);
  }
};

}  // namespace

cudaError_t launch_layer_norm(DType dtype, DType param_dtype, const void* x, const void* scale, const void* bias,
                              void* y, float* mean, float* inv_std, int64_t rows, int64_t cols, float epsilon, bool rms,
                              cudaStream_t stream, const void* residual, int64_t residual_rows, LayerNormFp8 fp8) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (residual && residual_rows <= 0) return cudaErrorInvalidValue;
  if (!y && !fp8.y) return cudaErrorInvalidValue;
  if (!with_types<LayerNormLauncher>(dtype, param_dtype, x, scale, bias, y, mean, inv_std, rows, cols, epsilon, rms,
                                     residual, residual_rows, fp8, stream))
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_group_norm(DType dtype, DType param_dtype, const void* x, const void* scale, const void* bias,
                              void* y, int64_t n, int64_t c, int64_t spatial, int64_t groups, bool per_channel,
                              float epsilon, cudaStream_t stream) {
  if (n == 0 || c == 0 || spatial == 0) return cudaSuccess;
  if (!with_types<GroupNormLauncher>(dtype, param_dtype, x, scale, bias, y, n, c, spatial, groups, per_channel, epsilon,
                                     stream))
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
