// Parameters and launch functions of the Attention device code (attention.cu: simple kernel for any dtype and
// head size, mask-to-bias conversion for cuDNN; attention_flash.cu: tensor-core flash kernel for float16/bfloat16
// with head sizes 32..128).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::norm {

enum class MaskKind : int { kNone, kBool, kFloat32, kFloat16, kBFloat16 };

// Element strides (in elements) of a [B, H, S, D] view; D is contiguous.
struct HeadStrides {
  int64_t b = 0, h = 0, s = 0;
};

struct AttentionParams {
  DType dtype = DType::kUndefined;  // of Q, K, V and Y
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* y = nullptr;
  int64_t batch = 0, q_heads = 0, kv_heads = 0, q_len = 0, kv_len = 0, head_dim = 0, v_head_dim = 0;
  HeadStrides qs, ks, vs, ys;
  // Mask broadcast to [B, Hq, Sq, mask_len]: strides 0 along broadcast dims; keys j >= mask_len are masked out.
  MaskKind mask_kind = MaskKind::kNone;
  const void* mask = nullptr;
  int64_t mask_sb = 0, mask_sh = 0, mask_sq = 0, mask_len = 0;
  float scale = 1.f;
  bool causal = false;  // key j > query i is masked out
  int flash_warps = 0;  // flash kernel: warps (16 query rows each) per block, 1/2/4/8; 0 = chosen by shape
};

// One block per (batch, head, query row); head_dim and v_head_dim up to kSimpleMaxHeadDim.
constexpr int64_t kSimpleMaxHeadDim = 512;
cudaError_t launch_attention_simple(const AttentionParams& p, cudaStream_t stream);

// Flash kernel: dtype float16/bfloat16, head_dim == v_head_dim in {32, 64, 80, 96, 128}.
bool flash_attention_supported(DType dtype, int64_t head_dim, int64_t v_head_dim);
cudaError_t launch_attention_flash(const AttentionParams& p, cudaStream_t stream);

// Writes p's mask as an additive bias of dtype p.dtype (float16/bfloat16) over [bb, hb, sqb, p.kv_len] (each of bb,
// hb, sqb is 1 or the full size; row stride ld >= kv_len elements): float masks are cast, bool masks become 0 / -inf,
// keys >= mask_len get -inf. For cuDNN SDPA, whose bias must be in the I/O dtype and as long as the keys.
cudaError_t launch_attention_mask_to_bias(const AttentionParams& p, int64_t bb, int64_t hb, int64_t sqb, int64_t ld,
                                          void* out, cudaStream_t stream);

}  // namespace kiln::cuda::norm
