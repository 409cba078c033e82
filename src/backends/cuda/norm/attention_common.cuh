// Device helpers shared by the Attention kernels: the mask/causal bias of one score.
#pragma once
#include "backends/cuda/norm/attention.h"
#include "backends/cuda/norm/device_util.cuh"

namespace kiln::cuda::norm {

// Additive bias of score (b, h, i, j): 0, a float mask value, or -inf for masked-out keys.
__device__ __forceinline__ float attention_bias(const AttentionParams& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (p.causal && j > i) return -kInfF;
  if (p.mask_kind == MaskKind::kNone) return 0.f;
  if (j >= p.mask_len) return -kInfF;
  const int64_t off = b * p.mask_sb + h * p.mask_sh + i * p.mask_sq + j;
  switch (p.mask_kind) {
    case MaskKind::kBool:
      return static_cast<const uint8_t*>(p.mask)[off] ? 0.f : -kInfF;
    case MaskKind::kFloat32:
      return static_cast<const float*>(p.mask)[off];
    case MaskKind::kFloat16:
      return __half2float(static_cast<const __half*>(p.mask)[off]);
    case MaskKind::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p.mask)[off]);
    default:
      return 0.f;
  }
}

}  // namespace kiln::cuda::norm
