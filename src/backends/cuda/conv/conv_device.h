// Launchers of the conv family's own CUDA kernels (plain C++17: shared by .cc host files and .cu files).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/gemm/epilogue.h"

namespace kiln::cuda {

constexpr int kMaxCopyRank = 6;

// dst[idx] = src[idx + offset] where that lies inside src, else 0; dims in memory order (row-major).
// Pads (negative offsets) and crops (positive offsets) a tensor.
struct WindowCopyParams {
  const void* src = nullptr;
  void* dst = nullptr;
  ElemType type = ElemType::kF32;
  int rank = 0;
  int64_t src_dims[kMaxCopyRank] = {};
  int64_t dst_dims[kMaxCopyRank] = {};
  int64_t offset[kMaxCopyRank] = {};
};
cudaError_t launch_window_copy(const WindowCopyParams& p, cudaStream_t stream);

// Max/average pooling over up to 3 spatial dims (fewer dims use size-1 trailing entries).
struct PoolParams {
  const void* x = nullptr;
  void* y = nullptr;
  ElemType type = ElemType::kF32;
  // 8-bit values (max pool only; `type` is then ignored): 0 none, 1 uint8, 2 int8. Max commutes with the positive
  // scale of the DequantizeLinear that fold_qdq_moves moved past the pool (docs/int8.md).
  int q8 = 0;
  bool is_max = true;
  bool channels_last = false;
  bool count_include_pad = false;
  int64_t n = 0, c = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1},
          pad_begin[3] = {0, 0, 0}, pad_end[3] = {0, 0, 0};
};
cudaError_t launch_pool(const PoolParams& p, cudaStream_t stream);

// Direct convolution (one thread per output, float32 accumulation): the fallback when cuDNN has no algorithm.
// Layouts as FusedConv: NCHW x/y with W [M, C/g, k...], or channels-last x/y with W [M, k..., C/g].
// Up to 3 spatial dims (fewer use size-1 trailing entries); pads may be asymmetric (only begins matter).
struct DirectConvParams {
  const void* x = nullptr;
  const void* w = nullptr;
  void* y = nullptr;
  ElemType type = ElemType::kF32;
  bool channels_last = false;
  int64_t n = 0, c = 0, m = 0, group = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1},
          pad_begin[3] = {0, 0, 0};
};
cudaError_t launch_direct_conv(const DirectConvParams& p, cudaStream_t stream);

// Depthwise convolution (group == C == M), channels-last X/Y/Z [N, H, W, C] (1-D: H = 1), W [C, kh, kw, 1]; y =
// act(conv + bias + Z). Pads: only the begins matter (the output size is given). Kiln's own tactic (depthwise.cu).
struct DepthwiseParams {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;  // [C] or null
  const void* z = nullptr;     // y's shape or null
  void* y = nullptr;
  ElemType type = ElemType::kF32;
  int64_t n = 0, c = 0;
  int in_h = 1, in_w = 1, out_h = 1, out_w = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  EpAct act = EpAct::kNone;
  float act_alpha = 0.f, act_beta = 0.f;
};
// Whether launch_depthwise_nhwc takes these dims (kernel taps <= 768, positive sizes); pointers are not checked.
bool depthwise_supported(const DepthwiseParams& p);
cudaError_t launch_depthwise_nhwc(const DepthwiseParams& p, cudaStream_t stream);

// Global max/average pool: y[n, c] over `spatial` positions. Channels-last inputs split the positions over
// `splits` blocks per image (global_pool_splits) whose float partials go to `partials` (n * splits * c floats;
// unused when splits == 1); splits == 0 runs the former one-thread-per-channel kernel; NCHW ignores both.
int64_t global_pool_splits(bool channels_last, int64_t n, int64_t c, int64_t spatial, int sm_count);
cudaError_t launch_global_pool(const void* x, void* y, float* partials, ElemType type, bool is_max,
                               bool channels_last, int64_t n, int64_t c, int64_t spatial, int64_t splits,
                               cudaStream_t stream);

// Per-channel affine y = x * scale[c] + shift[c] (float32 scale/shift), channel = (i / inner) % channels.
cudaError_t launch_channel_affine(const void* x, void* y, ElemType type, int64_t total, int64_t inner, int64_t channels,
                                  const float* scale, const float* shift, cudaStream_t stream);

// Inference batch-norm coefficients: scale_out = s / sqrt(var + eps), shift_out = b - mean * scale_out, for
// parameters of any float element type each.
struct BnParamsIn {
  const void* scale;
  ElemType scale_type;
  const void* bias;
  ElemType bias_type;
  const void* mean;
  ElemType mean_type;
  const void* var;
  ElemType var_type;
};
cudaError_t launch_bn_coefficients(const BnParamsIn& p, int64_t channels, float epsilon, float* scale_out,
                                   float* shift_out, cudaStream_t stream);

// InstanceNormalization over NCHW x: one (n, c) plane per block; scale/bias have x's type.
cudaError_t launch_instance_norm(const void* x, void* y, ElemType type, const void* scale, const void* bias, int64_t n,
                                 int64_t c, int64_t spatial, float epsilon, cudaStream_t stream);

// LRN across channels of NCHW x.
cudaError_t launch_lrn(const void* x, void* y, ElemType type, int64_t n, int64_t c, int64_t spatial, int64_t size,
                       float alpha, float beta, float bias, cudaStream_t stream);

}  // namespace kiln::cuda
