// Device code of Softmax/LogSoftmax: a warp per row (row cached in registers) for rows up to 1024 elements, a
// block per row beyond, and a thread per column when the axis is not the innermost one. Math in float32.
#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

constexpr float kNegInf = -kInfF;

template <class T, int kPerLane>
__global__ void softmax_rows_warp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int len, bool log) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;  // whole warp leaves together
  const int lane = threadIdx.x & 31;
  const T* xr = x + row * len;
  T* yr = y + row * len;
  float v[kPerLane];
  float mx = kNegInf;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    v[i] = c < len ? to_f32(xr[c]) : kNegInf;
    if (c < len) mx = nan_max(mx, v[i]);
  }
  mx = warp_max(mx);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    if (c < len) s += expf(v[i] - mx);
  }
  s = warp_sum(s);
  const float inv = 1.f / s, log_s = logf(s);
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + i * 32;
    if (c < len) yr[c] = from_f32<T>(log ? (v[i] - mx) - log_s : expf(v[i] - mx) * inv);
  }
}

// One block per row; three passes over the row (max, sum, write), the re-reads hit L2.
template <class T>
__global__ void softmax_rows_block(const T* __restrict__ x, T* __restrict__ y, int64_t len, bool log) {
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * len;
  T* yr = y + static_cast<int64_t>(blockIdx.x) * len;
  float mx = kNegInf;
  for (int64_t c = threadIdx.x; c < len; c += blockDim.x) mx = nan_max(mx, to_f32(xr[c]));
  mx = block_max(mx);
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < len; c += blockDim.x) s += expf(to_f32(xr[c]) - mx);
  s = block_sum(s);
  const float inv = 1.f / s, log_s = logf(s);
  for (int64_t c = threadIdx.x; c < len; c += blockDim.x) {
    const float z = to_f32(xr[c]) - mx;
    yr[c] = from_f32<T>(log ? z - log_s : expf(z) * inv);
  }
}

// One thread per (outer, inner) column: neighbouring threads read neighbouring addresses.
template <class T>
__global__ void softmax_columns(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t len, int64_t inner,
                                bool log) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t o = t / inner, in = t % inner;
  const T* xc = x + o * len * inner + in;
  T* yc = y + o * len * inner + in;
  float mx = kNegInf;
  for (int64_t j = 0; j < len; ++j) mx = nan_max(mx, to_f32(xc[j * inner]));
  float s = 0.f;
  for (int64_t j = 0; j < len; ++j) s += expf(to_f32(xc[j * inner]) - mx);
  const float inv = 1.f / s, log_s = logf(s);
  for (int64_t j = 0; j < len; ++j) {
    const float z = to_f32(xc[j * inner]) - mx;
    yc[j * inner] = from_f32<T>(log ? z - log_s : expf(z) * inv);
  }
}

// Vectorized variant for len % 4 == 0 and aligned rows: kThreadsPerRow threads (a warp, or a whole block) share a
// row, each caching kChunks groups of 4 elements in registers; loads and stores are 4-wide.
template <class T, int kThreadsPerRow, int kChunks>
__global__ void softmax_vec4(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int len, bool log) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kThreadsPerRow) + threadIdx.x / kThreadsPerRow;
  if (row >= rows) return;  // a whole row group leaves together (a block variant has one row per block)
  const int t = threadIdx.x % kThreadsPerRow;
  const int chunks = len / 4;
  const Vec4<T>* xr = reinterpret_cast<const Vec4<T>*>(x + row * len);
  Vec4<T>* yr = reinterpret_cast<Vec4<T>*>(y + row * len);
  float v[kChunks][4];
  float mx = kNegInf;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = t + i * kThreadsPerRow;
    if (c < chunks) {
      const Vec4<T> q = xr[c];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        v[i][e] = to_f32(q.v[e]);
        mx = nan_max(mx, v[i][e]);
      }
    }
  }
  mx = row_max<kThreadsPerRow>(mx);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    if (t + i * kThreadsPerRow < chunks) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s += expf(v[i][e] - mx);
    }
  }
  s = row_sum<kThreadsPerRow>(s);
  const float inv = 1.f / s, log_s = logf(s);
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = t + i * kThreadsPerRow;
    if (c >= chunks) continue;
    Vec4<T> o;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float z = v[i][e] - mx;
      o.v[e] = from_f32<T>(log ? z - log_s : expf(z) * inv);
    }
    yr[c] = o;
  }
}

template <class T, int kThreadsPerRow, int kChunks>
void launch_vec4(const T* x, T* y, int64_t rows, int len, bool log, cudaStream_t stream) {
  constexpr int kBlock = kThreadsPerRow == 32 ? 128 : kThreadsPerRow;
  softmax_vec4<T, kThreadsPerRow, kChunks>
      <<<ceil_div_u(rows, kBlock / kThreadsPerRow), kBlock, 0, stream>>>(x, y, rows, len, log);
}

// Picks a vectorized configuration for rows of up to 8192 elements; false when shape or alignment rule it out.
template <class T>
bool try_vec4(const T* x, T* y, int64_t rows, int64_t len, bool log, cudaStream_t stream) {
  if (len % 4 != 0 || len > 8192 || !aligned_to(x, 4 * sizeof(T)) || !aligned_to(y, 4 * sizeof(T))) return false;
  const int l = static_cast<int>(len), chunks = l / 4;
  if (chunks <= 32)
    launch_vec4<T, 32, 1>(x, y, rows, l, log, stream);
  else if (chunks <= 64)
    launch_vec4<T, 32, 2>(x, y, rows, l, log, stream);
  else if (chunks <= 128)
    launch_vec4<T, 32, 4>(x, y, rows, l, log, stream);
  else if (chunks <= 256)
    launch_vec4<T, 32, 8>(x, y, rows, l, log, stream);
  else if (chunks <= 1024)
    launch_vec4<T, 256, 4>(x, y, rows, l, log, stream);
  else
    launch_vec4<T, 256, 8>(x, y, rows, l, log, stream);
  return true;
}

template <class T, int kPerLane>
void launch_warp(const T* x, T* y, int64_t rows, int len, bool log, cudaStream_t stream) {
  constexpr int kRowsPerBlock = 4;
  softmax_rows_warp<T, kPerLane>
      <<<ceil_div_u(rows, kRowsPerBlock), kRowsPerBlock * 32, 0, stream>>>(x, y, rows, len, log);
}

template <class T>
void launch_typed(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool log, cudaStream_t stream) {
  if (inner != 1) {
    softmax_columns<T><<<ceil_div_u(outer * inner, 256), 256, 0, stream>>>(x, y, outer, len, inner, log);
    return;
  }
  if (try_vec4(x, y, outer, len, log, stream)) return;
  const int l = static_cast<int>(len);
  if (len <= 32) return launch_warp<T, 1>(x, y, outer, l, log, stream);
  if (len <= 64) return launch_warp<T, 2>(x, y, outer, l, log, stream);
  if (len <= 128) return launch_warp<T, 4>(x, y, outer, l, log, stream);
  if (len <= 256) return launch_warp<T, 8>(x, y, outer, l, log, stream);
  if (len <= 512) return launch_warp<T, 16>(x, y, outer, l, log, stream);
  if (len <= 1024) return launch_warp<T, 32>(x, y, outer, l, log, stream);
  const int threads = len >= 8192 ? 1024 : 512;
  softmax_rows_block<T><<<static_cast<unsigned>(outer), threads, 0, stream>>>(x, y, len, log);
}

}  // namespace

cudaError_t launch_softmax(DType dtype, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, bool log,
                           cudaStream_t stream) {
  if (outer * len * inner == 0) return cudaSuccess;
  switch (dtype) {
    case DType::kFloat32:
      launch_typed(static_cast<const float*>(x), static_cast<float*>(y), outer, len, inner, log, stream);
      break;
    case DType::kFloat16:
      launch_typed(static_cast<const __half*>(x), static_cast<__half*>(y), outer, len, inner, log, stream);
      break;
    case DType::kBFloat16:
      launch_typed(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), outer, len, inner, log,
                   stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
