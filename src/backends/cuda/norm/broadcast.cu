// Device code that materializes a broadcast parameter (LayerNorm scale/bias of a smaller shape) densely.
#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

struct BroadcastDims {
  int rank;
  int64_t dst[kMaxBroadcastRank];
  int64_t src_stride[kMaxBroadcastRank];  // 0 along broadcast dims
};

template <class E>
__global__ void broadcast_copy(const E* __restrict__ src, E* __restrict__ dst, BroadcastDims d, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t rem = i, off = 0;
  for (int k = d.rank - 1; k >= 0; --k) {
    off += (rem % d.dst[k]) * d.src_stride[k];
    rem /= d.dst[k];
  }
  dst[i] = src[off];
}

}  // namespace

cudaError_t launch_broadcast_copy(const void* src, void* dst, int elem_size, int rank, const int64_t* src_dims,
                                  const int64_t* dst_dims, cudaStream_t stream) {
  if (rank > kMaxBroadcastRank) return cudaErrorInvalidValue;
  BroadcastDims d{};
  d.rank = rank;
  int64_t n = 1, stride = 1;
  for (int k = rank - 1; k >= 0; --k) {
    d.dst[k] = dst_dims[k];
    d.src_stride[k] = src_dims[k] == 1 ? 0 : stride;
    stride *= src_dims[k];
    n *= dst_dims[k];
  }
  if (n == 0) return cudaSuccess;
  const unsigned blocks = ceil_div_u(n, 256);
  switch (elem_size) {
    case 1:
      broadcast_copy<<<blocks, 256, 0, stream>>>(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), d, n);
      break;
    case 2:
      broadcast_copy<<<blocks, 256, 0, stream>>>(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), d, n);
      break;
    case 4:
      broadcast_copy<<<blocks, 256, 0, stream>>>(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), d, n);
      break;
    case 8:
      broadcast_copy<<<blocks, 256, 0, stream>>>(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), d, n);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
