// Device code of the shared bias / residual / activation epilogue (see epilogue.h).
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

template <class T>
__global__ void bias_residual_activation_epilogue(EpilogueParams p) {
  T* y = static_cast<T*>(p.y);
  const T* bias = static_cast<const T*>(p.bias);
  const T* z = static_cast<const T*>(p.z);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = to_f32(y[i]);
    if (bias) v += to_f32(bias[(i / p.bias_inner) % p.bias_channels]);
    if (z) {
      int64_t off = i;
      if (!p.z_full) {
        off = 0;
        int64_t rem = i;
        for (int d = p.rank - 1; d >= 0; --d) {
          const int64_t idx = rem % p.dims[d];
          rem /= p.dims[d];
          off += idx * p.z_strides[d];
        }
      }
      v += p.z_scale * to_f32(z[off]);
    }
    y[i] = from_f32<T>(apply_activation(p.act, v, p.act_alpha, p.act_beta));
  }
}

}  // namespace

cudaError_t launch_epilogue(const EpilogueParams& p, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  constexpr int kBlock = 256;
  KILN_DISPATCH_ELEM(p.type, bias_residual_activation_epilogue<T><<<grid_for(p.n, kBlock), kBlock, 0, stream>>>(p));
  return cudaGetLastError();
}

}  // namespace kiln::cuda
