// Device-side float32 load/store of the float element types (float, half, bfloat16) and activation math.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/gemm/epilogue.h"

namespace kiln::cuda {

template <class T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

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

// Grid size for a 1-D grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  if (g > 65535 * 16) g = 65535 * 16;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace kiln::cuda
