// Kiln's own depthwise convolution (channels-last, 1-D/2-D, any stride, dilation and pads; bias, residual Z and the
// fused activations in the epilogue): a tactic beside cuDNN's (conv.cc). A block stages its channel tile's weights in
// shared memory as [tap][channel]; each thread computes V neighbouring channels of one output pixel per step, reading
// V-wide vectors of X (neighbouring threads read neighbouring vectors of the same pixel: coalesced).
#include "backends/cuda/conv/conv_device.h"
#include "backends/cuda/gemm/elem_io.cuh"

namespace kiln::cuda {
namespace {

constexpr int kDwThreads = 256;
constexpr int kDwMaxTaps = 768;

template <class T, int V>
struct alignas(sizeof(T) * V) DwVec {
  T v[V];
};

// Channels per block: the weight tile [taps][ct] stays within 24 KiB of float.
int dw_channel_tile(int taps, int v) {
  int ct = taps <= 96 ? 64 : taps <= 192 ? 32 : taps <= 384 ? 16 : 8;
  return ct < v ? v : ct;
}

template <class T, int V>
__global__ void __launch_bounds__(kDwThreads) depthwise_nhwc(DepthwiseParams p, int ct, int64_t pixels) {
  extern __shared__ float wsm[];  // [taps][ct]
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  const int taps = p.kh * p.kw;
  const int lanes = ct / V, lane = threadIdx.x % lanes, prow = threadIdx.x / lanes, rows = blockDim.x / lanes;
  const int64_t c = p.c, c0 = static_cast<int64_t>(blockIdx.y) * ct;
  const int tile_c = static_cast<int>(c - c0 < ct ? c - c0 : ct);
  for (int i = threadIdx.x; i < ct * taps; i += blockDim.x) {
    const int cc = i / taps, t = i % taps;  // W is [C, kh, kw, 1]: read in its own order (coalesced)
    wsm[t * ct + cc] = cc < tile_c ? to_f32(w[(c0 + cc) * taps + t]) : 0.f;
  }
  __syncthreads();
  if (lane * V >= tile_c || prow >= rows) return;
  const int64_t cb = c0 + lane * V;  // this thread's first channel
  float bias[V];
  for (int k = 0; k < V; ++k) bias[k] = p.bias ? to_f32(static_cast<const T*>(p.bias)[cb + k]) : 0.f;
  for (int64_t pix = static_cast<int64_t>(blockIdx.x) * rows + prow; pix < pixels;
       pix += static_cast<int64_t>(gridDim.x) * rows) {
    const int ow = static_cast<int>(pix % p.out_w);
    const int64_t rest = pix / p.out_w;
    const int oh = static_cast<int>(rest % p.out_h);
    const int64_t ni = rest / p.out_h;
    const int ih0 = oh * p.sh - p.ph, iw0 = ow * p.sw - p.pw;
    float acc[V];
    for (int k = 0; k < V; ++k) acc[k] = bias[k];
    for (int i = 0; i < p.kh; ++i) {
      const int ih = ih0 + i * p.dh;
      if (ih < 0 || ih >= p.in_h) continue;
      const T* row = x + ((ni * p.in_h + ih) * p.in_w) * c + cb;
      const float* wrow = wsm + (i * p.kw) * ct + lane * V;
      for (int j = 0; j < p.kw; ++j) {
        const int iw = iw0 + j * p.dw;
        if (iw < 0 || iw >= p.in_w) continue;
        const DwVec<T, V> v = *reinterpret_cast<const DwVec<T, V>*>(row + static_cast<int64_t>(iw) * c);
        const float* wt = wrow + j * ct;
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = fmaf(to_f32(v.v[k]), wt[k], acc[k]);
      }
    }
    const int64_t off = pix * c + cb;
    if (p.z) {
      const DwVec<T, V> zv = *reinterpret_cast<const DwVec<T, V>*>(static_cast<const T*>(p.z) + off);
      for (int k = 0; k < V; ++k) acc[k] += to_f32(zv.v[k]);
    }
    DwVec<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = from_f32<T>(apply_activation(p.act, acc[k], p.act_alpha, p.act_beta));
    *reinterpret_cast<DwVec<T, V>*>(static_cast<T*>(p.y) + off) = out;
  }
}

template <class T, int V>
cudaError_t launch_dw(const DepthwiseParams& p, cudaStream_t stream) {
  const int taps = p.kh * p.kw;
  const int ct = dw_channel_tile(taps, V);
  const int lanes = ct / V, rows = kDwThreads / lanes;
  const int64_t pixels = p.n * static_cast<int64_t>(p.out_h) * p.out_w;
  const int64_t tiles = (p.c + ct - 1) / ct;
  if (tiles > 65535) return cudaErrorInvalidConfiguration;
  // About 2k blocks in all: each loops over several pixel rows, so the weight tile is staged fewer times.
  int64_t bx = (pixels + rows - 1) / rows;
  const int64_t cap = (2048 + tiles - 1) / tiles;
  if (bx > cap) bx = cap;
  if (bx < 1) bx = 1;
  const size_t shared = sizeof(float) * static_cast<size_t>(ct) * taps;
  depthwise_nhwc<T, V><<<dim3(static_cast<unsigned>(bx), static_cast<unsigned>(tiles)), lanes * rows, shared,
                         stream>>>(p, ct, pixels);
  return cudaGetLastError();
}

}  // namespace

bool depthwise_supported(const DepthwiseParams& p) {
  const int taps = p.kh * p.kw;
  return p.n > 0 && p.c > 0 && taps > 0 && taps <= kDwMaxTaps && p.sh > 0 && p.sw > 0 && p.dh > 0 && p.dw > 0 &&
         p.in_h > 0 && p.in_w > 0 && p.out_h > 0 && p.out_w > 0 &&
         static_cast<double>(p.n) * p.in_h * p.in_w * p.c < 9.0e18;
}

cudaError_t launch_depthwise_nhwc(const DepthwiseParams& p, cudaStream_t stream) {
  if (!depthwise_supported(p)) return cudaErrorInvalidValue;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p.x) | reinterpret_cast<uintptr_t>(p.y) |
                         reinterpret_cast<uintptr_t>(p.z);
  const bool aligned16 = addr % 16 == 0;
  if (p.type == ElemType::kF16 && aligned16 && p.c % 8 == 0) return launch_dw<__half, 8>(p, stream);
  if (p.type == ElemType::kBF16 && aligned16 && p.c % 8 == 0) return launch_dw<__nv_bfloat16, 8>(p, stream);
  if (p.type == ElemType::kF32 && aligned16 && p.c % 4 == 0) return launch_dw<float, 4>(p, stream);
  KILN_DISPATCH_ELEM(p.type, return launch_dw<T, 1>(p, stream));
  return cudaErrorInvalidValue;
}

}  // namespace kiln::cuda
