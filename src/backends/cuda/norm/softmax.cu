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
