// cuDNN SDPA tactic of ONNX Attention (frontend graph `sdpa`, inference mode, no stats) for float16/bfloat16.
#pragma once
#include "backends/cuda/kernel.h"
#include "backends/cuda/norm/attention.h"

namespace kiln::cuda::norm {

// Host-side checks that need no cuDNN call: dtype float16/bfloat16, head sizes <= 128 and multiples of 8, 16-byte
// aligned rows. False means the SDPA tactic does not apply and the own kernels run.
bool sdpa_eligible(const AttentionParams& p);

// Builds (once per shape and mask layout, cached in ctx.node_state() together with a refusal) the SDPA graph for p.
// An unimplemented Status means cuDNN cannot run this node at this shape: the caller runs its own kernel.
Status prepare_attention_sdpa(CudaKernelContext& ctx, const AttentionParams& p);

// Runs p (pointers set) through cuDNN SDPA on ctx's stream, converting the mask into an additive bias in the
// workspace where needed. No host synchronization (CUDA-graph capturable once prepared). Unimplemented as above.
Status run_attention_sdpa(CudaKernelContext& ctx, const AttentionParams& p);

}  // namespace kiln::cuda::norm
