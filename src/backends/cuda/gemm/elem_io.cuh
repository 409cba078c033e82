// Device-side float32 load/store of the float element types (float, half, bfloat16) and activation math.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/device_common.cuh"
#include "backends/cuda/gemm/epilogue.h"

namespace kiln::cuda {

// The activations of docs/fused-ops.md, in float32.
__device__ __forceinline__ float apply_activation(EpAct act, float x, float a, float b) {
  switch (act) {
    case EpAct::kNone:
      return x;
    case EpAct::kRelu:
      return x > 0.f ? x : 0.f;
    case EpAct::kLeakyRelu:
      return x >= 0.f ? x : a * x;
    case EpAct::kSigmoid:
      return 1.f / (1.f + expf(-x));
    case EpAct::kTanh:
      return tanhf(x);
    case EpAct::kClip:
      return fminf(fmaxf(x, a), b);
    case EpAct::kSilu:
      return x / (1.f + expf(-x));
    case EpAct::kGelu:
      return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case EpAct::kGeluTanh:
      return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case EpAct::kHardSigmoid:
      return fmaxf(0.f, fminf(1.f, a * x + b));
    case EpAct::kHardSwish:
      return x * fmaxf(0.f, fminf(1.f, x * (1.f / 6.f) + 0.5f));
  }
  return x;
}

// Calls f.template operator()<T>() with T the element type of `t` (a device-side dtype switch on the host).
#define KILN_DISPATCH_ELEM(t, ...) \
  switch (t) {                     \
    case ElemType::kF32: {         \
      using T = float;             \
      __VA_ARGS__;                 \
    } break;                       \
    case ElemType::kF16: {         \
      using T = __half;            \
      __VA_ARGS__;                 \
    } break;                       \
    case ElemType::kBF16: {        \
      using T = __nv_bfloat16;     \
      __VA_ARGS__;                 \
    } break;                       \
  }

}  // namespace kiln::cuda
