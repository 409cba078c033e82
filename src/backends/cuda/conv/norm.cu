// Device code of the conv family's normalizations: batch-norm (inference), InstanceNormalization, LRN.
#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

__device__ float load_any(const void* p, ElemType t, int64_t i) {
  switch (t) {
    case ElemType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case ElemType::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__global__ void bn_coefficients(BnParamsIn p, int64_t channels, float eps, float* scale_out, float* shift_out) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < channels;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float s = load_any(p.scale, p.scale_type, c) * rsqrtf(load_any(p.var, p.var_type, c) + eps);
    scale_out[c] = s;
    shift_out[c] = load_any(p.bias, p.bias_type, c) - load_any(p.mean, p.mean_type, c) * s;
  }
}

template <class T>
__global__ void channel_affine(const T* x, T* y, int64_t total, int64_t inner, int64_t channels, const float* scale,
                               const float* shift) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / inner) % channels;
    y[i] = from_f32<T>(to_f32(x[i]) * scale[c] + shift[c]);
  }
}

// Block-wide sum of one float per thread (blockDim.x == kBlock).
__device__ float block_sum(float v, float* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  const float r = buf[0];
  __syncthreads();
  return r;
}

// One block per (n, c) plane: mean, then the variance of the differences (two passes, float32).
template <class T>
__global__ void instance_norm_planes(const T* x, T* y, const T* scale, const T* bias, int64_t c, int64_t spatial,
                                     float eps) {
  __shared__ float buf[kBlock];
  const T* plane = x + blockIdx.x * spatial;
  T* out = y + blockIdx.x * spatial;
  const int64_t ci = blockIdx.x % c;
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < spatial; k += blockDim.x) s += to_f32(plane[k]);
  const float mean = spatial > 0 ? block_sum(s, buf) / static_cast<float>(spatial) : 0.f;
  float s2 = 0.f;
  for (int64_t k = threadIdx.x; k < spatial; k += blockDim.x) {
    const float d = to_f32(plane[k]) - mean;
    s2 += d * d;
  }
  const float var = spatial > 0 ? block_sum(s2, buf) / static_cast<float>(spatial) : 0.f;
  const float a = rsqrtf(var + eps) * to_f32(scale[ci]), b = to_f32(bias[ci]);
  for (int64_t k = threadIdx.x; k < spatial; k += blockDim.x) out[k] = from_f32<T>((to_f32(plane[k]) - mean) * a + b);
}

template <class T>
__global__ void lrn_across_channels(const T* x, T* y, int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha,
                                    float beta, float bias) {
  const int64_t total = n * c * spatial, lo = (size - 1) / 2, hi = size - 1 - lo;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = i % spatial, ci = (i / spatial) % c, ni = i / (spatial * c);
    const int64_t c0 = ci - lo < 0 ? 0 : ci - lo, c1 = ci + hi > c - 1 ? c - 1 : ci + hi;
    float s = 0.f;
    for (int64_t cj = c0; cj <= c1; ++cj) {
      const float v = to_f32(x[(ni * c + cj) * spatial + k]);
      s += v * v;
    }
    y[i] = from_f32<T>(to_f32(x[i]) / powf(bias + alpha / static_cast<float>(size) * s, beta));
  }
}

}  // namespace

cudaError_t launch_bn_coefficients(const BnParamsIn& p, int64_t channels, float epsilon, float* scale_out,
                                   float* shift_out, cudaStream_t stream) {
  if (channels == 0) return cudaSuccess;
  bn_coefficients<<<grid_for(channels, kBlock), kBlock, 0, stream>>>(p, channels, epsilon, scale_out, shift_out);
  return cudaGetLastError();
}

cudaError_t launch_channel_affine(const void* x, void* y, ElemType type, int64_t total, int64_t inner, int64_t channels,
                                  const float* scale, const float* shift, cudaStream_t stream) {
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(type, channel_affine<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
                               static_cast<const T*>(x), static_cast<T*>(y), total, inner, channels, scale, shift));
  return cudaGetLastError();
}

cudaError_t launch_instance_norm(const void* x, void* y, ElemType type, const void* scale, const void* bias, int64_t n,
                                 int64_t c, int64_t spatial, float epsilon, cudaStream_t stream) {
  if (n * c == 0) return cudaSuccess;
  if (n * c > 0x7fffffff) return cudaErrorInvalidConfiguration;
  KILN_DISPATCH_ELEM(type, instance_norm_planes<T><<<static_cast<unsigned>(n * c), kBlock, 0, stream>>>(
                               static_cast<const T*>(x), static_cast<T*>(y), static_cast<const T*>(scale),
                               static_cast<const T*>(bias), c, spatial, epsilon));
  return cudaGetLastError();
}

cudaError_t launch_lrn(const void* x, void* y, ElemType type, int64_t n, int64_t c, int64_t spatial, int64_t size,
                       float alpha, float beta, float bias, cudaStream_t stream) {
  const int64_t total = n * c * spatial;
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(type, lrn_across_channels<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
                               static_cast<const T*>(x), static_cast<T*>(y), n, c, spatial, size, alpha, beta, bias));
  return cudaGetLastError();
}

}  // namespace kiln::cuda
