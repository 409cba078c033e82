// Device code of the conv family's data movement and pooling: window copy (pad/crop), pools, global pools.
#include <cfloat>

#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

template <class T>
__global__ void window_copy(WindowCopyParams p, int64_t total) {
  const T* src = static_cast<const T*>(p.src);
  T* dst = static_cast<T*>(p.dst);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, src_off = 0, src_stride = 1;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t coord = rem % p.dst_dims[d] + p.offset[d];
      rem /= p.dst_dims[d];
      if (coord < 0 || coord >= p.src_dims[d]) inside = false;
      src_off += coord * src_stride;
      src_stride *= p.src_dims[d];
    }
    dst[i] = inside ? src[src_off] : from_f32<T>(0.f);
  }
}

// One thread per output element; the window loop mirrors the reference pool (count_include_pad counts taps
// inside the padded extent, never those beyond it that ceil_mode adds).
template <class T>
__global__ void pool_nd(PoolParams p, int64_t total) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t out_sp = p.out[0] * p.out[1] * p.out[2], in_sp = p.in[0] * p.in[1] * p.in[2];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t ni, ci, pos;
    if (p.channels_last) {
      ci = i % p.c;
      pos = (i / p.c) % out_sp;
      ni = i / (p.c * out_sp);
    } else {
      pos = i % out_sp;
      ci = (i / out_sp) % p.c;
      ni = i / (out_sp * p.c);
    }
    const int64_t o2 = pos % p.out[2], o1 = (pos / p.out[2]) % p.out[1], o0 = pos / (p.out[2] * p.out[1]);
    const int64_t s0 = o0 * p.stride[0] - p.pad_begin[0], s1 = o1 * p.stride[1] - p.pad_begin[1],
                  s2 = o2 * p.stride[2] - p.pad_begin[2];
    float acc = p.is_max ? -FLT_MAX : 0.f;
    bool any = false;
    int64_t count = 0;
    for (int64_t k0 = 0; k0 < p.kernel[0]; ++k0) {
      const int64_t q0 = s0 + k0 * p.dilation[0];
      for (int64_t k1 = 0; k1 < p.kernel[1]; ++k1) {
        const int64_t q1 = s1 + k1 * p.dilation[1];
        for (int64_t k2 = 0; k2 < p.kernel[2]; ++k2) {
          const int64_t q2 = s2 + k2 * p.dilation[2];
          const bool inside = q0 >= 0 && q0 < p.in[0] && q1 >= 0 && q1 < p.in[1] && q2 >= 0 && q2 < p.in[2];
          if (!inside) {
            if (p.count_include_pad && q0 < p.in[0] + p.pad_end[0] && q1 < p.in[1] + p.pad_end[1] &&
                q2 < p.in[2] + p.pad_end[2])
              ++count;
            continue;
          }
          ++count;
          const int64_t sp = (q0 * p.in[1] + q1) * p.in[2] + q2;
          const int64_t off = p.channels_last ? (ni * in_sp + sp) * p.c + ci : (ni * p.c + ci) * in_sp + sp;
          const float v = to_f32(x[off]);
          if (p.is_max) {
            if (!any || v > acc) acc = v;
          } else {
            acc += v;
          }
          any = true;
        }
      }
    }
    float r;
    if (p.is_max)
      r = any ? acc : 0.f;
    else
      r = count > 0 ? acc / static_cast<float>(count) : 0.f;
    y[i] = from_f32<T>(r);
  }
}

// NCHW: one block per (n, c) plane, shared-memory tree reduction.
template <class T>
__global__ void global_pool_planes(const T* x, T* y, bool is_max, int64_t spatial) {
  __shared__ float buf[kBlock];
  const T* plane = x + blockIdx.x * spatial;
  float acc = is_max ? -FLT_MAX : 0.f;
  for (int64_t s = threadIdx.x; s < spatial; s += blockDim.x) {
    const float v = to_f32(plane[s]);
    acc = is_max ? fmaxf(acc, v) : acc + v;
  }
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w)
      buf[threadIdx.x] =
          is_max ? fmaxf(buf[threadIdx.x], buf[threadIdx.x + w]) : buf[threadIdx.x] + buf[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = from_f32<T>(is_max ? buf[0] : buf[0] / static_cast<float>(spatial));
}

// NHWC: one thread per (n, c); neighbouring threads read neighbouring channels.
template <class T>
__global__ void global_pool_channels_last(const T* x, T* y, bool is_max, int64_t n, int64_t c, int64_t spatial) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n * c;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ni = i / c, ci = i % c;
    const T* base = x + ni * spatial * c + ci;
    float acc = is_max ? -FLT_MAX : 0.f;
    for (int64_t s = 0; s < spatial; ++s) {
      const float v = to_f32(base[s * c]);
      acc = is_max ? fmaxf(acc, v) : acc + v;
    }
    y[i] = from_f32<T>(is_max ? acc : acc / static_cast<float>(spatial));
  }
}

}  // namespace

cudaError_t launch_window_copy(const WindowCopyParams& p, cudaStream_t stream) {
  int64_t total = 1;
  for (int d = 0; d < p.rank; ++d) total *= p.dst_dims[d];
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(p.type, window_copy<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total));
  return cudaGetLastError();
}

cudaError_t launch_pool(const PoolParams& p, cudaStream_t stream) {
  const int64_t total = p.n * p.c * p.out[0] * p.out[1] * p.out[2];
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(p.type, pool_nd<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total));
  return cudaGetLastError();
}

cudaError_t launch_global_pool(const void* x, void* y, ElemType type, bool is_max, bool channels_last, int64_t n,
                               int64_t c, int64_t spatial, cudaStream_t stream) {
  if (n * c == 0 || spatial == 0) return cudaSuccess;
  if (channels_last) {
    KILN_DISPATCH_ELEM(type, global_pool_channels_last<T><<<grid_for(n * c, kBlock), kBlock, 0, stream>>>(
                                 static_cast<const T*>(x), static_cast<T*>(y), is_max, n, c, spatial));
  } else {
    if (n * c > 0x7fffffff) return cudaErrorInvalidConfiguration;
    KILN_DISPATCH_ELEM(type, global_pool_planes<T><<<static_cast<unsigned>(n * c), kBlock, 0, stream>>>(
                                 static_cast<const T*>(x), static_cast<T*>(y), is_max, spatial));
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
