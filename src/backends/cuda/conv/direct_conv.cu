// Device code of the direct convolution used when cuDNN offers no algorithm for a shape/layout/dtype.
#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

template <class T>
__global__ void direct_conv_nd(DirectConvParams p, int64_t total) {
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  T* y = static_cast<T*>(p.y);
  const int64_t out_sp = p.out[0] * p.out[1] * p.out[2], in_sp = p.in[0] * p.in[1] * p.in[2];
  const int64_t cg = p.c / p.group, mg = p.m / p.group;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t ni, mi, pos;
    if (p.channels_last) {
      mi = i % p.m;
      pos = (i / p.m) % out_sp;
      ni = i / (p.m * out_sp);
    } else {
      pos = i % out_sp;
      mi = (i / out_sp) % p.m;
      ni = i / (out_sp * p.m);
    }
    const int64_t g = mi / mg;
    const int64_t o2 = pos % p.out[2], o1 = (pos / p.out[2]) % p.out[1], o0 = pos / (p.out[2] * p.out[1]);
    float acc = 0.f;
    for (int64_t k0 = 0; k0 < p.kernel[0]; ++k0) {
      const int64_t q0 = o0 * p.stride[0] - p.pad_begin[0] + k0 * p.dilation[0];
      if (q0 < 0 || q0 >= p.in[0]) continue;
      for (int64_t k1 = 0; k1 < p.kernel[1]; ++k1) {
        const int64_t q1 = o1 * p.stride[1] - p.pad_begin[1] + k1 * p.dilation[1];
        if (q1 < 0 || q1 >= p.in[1]) continue;
        for (int64_t k2 = 0; k2 < p.kernel[2]; ++k2) {
          const int64_t q2 = o2 * p.stride[2] - p.pad_begin[2] + k2 * p.dilation[2];
          if (q2 < 0 || q2 >= p.in[2]) continue;
          const int64_t sp = (q0 * p.in[1] + q1) * p.in[2] + q2;
          const int64_t tap = (k0 * p.kernel[1] + k1) * p.kernel[2] + k2;
          const int64_t taps = p.kernel[0] * p.kernel[1] * p.kernel[2];
          for (int64_t ci = 0; ci < cg; ++ci) {
            const int64_t cx = g * cg + ci;
            const int64_t xo = p.channels_last ? (ni * in_sp + sp) * p.c + cx : (ni * p.c + cx) * in_sp + sp;
            const int64_t wo = p.channels_last ? (mi * taps + tap) * cg + ci : (mi * cg + ci) * taps + tap;
            acc += to_f32(x[xo]) * to_f32(w[wo]);
          }
        }
      }
    }
    y[i] = from_f32<T>(acc);
  }
}

}  // namespace

cudaError_t launch_direct_conv(const DirectConvParams& p, cudaStream_t stream) {
  const int64_t total = p.n * p.m * p.out[0] * p.out[1] * p.out[2];
  if (total == 0) return cudaSuccess;
  KILN_DISPATCH_ELEM(p.type, direct_conv_nd<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(p, total));
  return cudaGetLastError();
}

}  // namespace kiln::cuda
