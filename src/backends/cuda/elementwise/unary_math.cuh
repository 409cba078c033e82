// Device math of the unary ops, shared by the unary kernels and FusedElementwise (float32 compute).
#pragma once
#include <cuda_runtime.h>

#include <cmath>

#include "backends/cuda/elementwise/unary.h"

namespace kiln::cuda {

__device__ __forceinline__ float stable_sigmoid(float v) {
  if (v >= 0.f) return 1.f / (1.f + expf(-v));
  const float e = expf(v);
  return e / (1.f + e);
}
__device__ __forceinline__ float stable_softplus(float v) { return v > 0.f ? v + log1pf(expf(-v)) : log1pf(expf(v)); }

// op(v) in float32 with the semantics of the reference backend's kernels.
__device__ __forceinline__ float unary_float(UnaryOp op, float v, const UnaryParams& p) {
  switch (op) {
    case UnaryOp::kAbs:
      return fabsf(v);
    case UnaryOp::kNeg:
      return -v;
    case UnaryOp::kExp:
      return expf(v);
    case UnaryOp::kLog:
      return logf(v);
    case UnaryOp::kSqrt:
      return sqrtf(v);
    case UnaryOp::kReciprocal:
      return 1.f / v;
    case UnaryOp::kSin:
      return sinf(v);
    case UnaryOp::kCos:
      return cosf(v);
    case UnaryOp::kTan:
      return tanf(v);
    case UnaryOp::kTanh:
      return tanhf(v);
    case UnaryOp::kAsin:
      return asinf(v);
    case UnaryOp::kAcos:
      return acosf(v);
    case UnaryOp::kAtan:
      return atanf(v);
    case UnaryOp::kSinh:
      return sinhf(v);
    case UnaryOp::kCosh:
      return coshf(v);
    case UnaryOp::kAsinh:
      return asinhf(v);
    case UnaryOp::kAcosh:
      return acoshf(v);
    case UnaryOp::kAtanh:
      return atanhf(v);
    case UnaryOp::kSigmoid:
      return stable_sigmoid(v);
    case UnaryOp::kRelu:
      return v < 0.f ? 0.f : v;
    case UnaryOp::kLeakyRelu:
      return v < 0.f ? p.alpha * v : v;
    case UnaryOp::kElu:
      return v < 0.f ? p.alpha * (expf(v) - 1.f) : v;
    case UnaryOp::kSelu:
      return v > 0.f ? p.gamma * v : p.gamma * (p.alpha * expf(v) - p.alpha);
    case UnaryOp::kCelu:
      return fmaxf(0.f, v) + fminf(0.f, p.alpha * (expf(v / p.alpha) - 1.f));
    case UnaryOp::kErf:
      return erff(v);
    case UnaryOp::kGelu:
      return 0.5f * v * (1.f + erff(v / sqrtf(2.f)));
    case UnaryOp::kGeluTanh: {
      const float k = 0.7978845608028654f;  // sqrt(2/pi)
      return 0.5f * v * (1.f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    case UnaryOp::kSilu:
      return v * stable_sigmoid(v);
    case UnaryOp::kSwish:
      return v * stable_sigmoid(p.alpha * v);
    case UnaryOp::kSoftplus:
      return stable_softplus(v);
    case UnaryOp::kSoftsign:
      return v / (1.f + fabsf(v));
    case UnaryOp::kHardSigmoid:
      return fmaxf(0.f, fminf(1.f, p.alpha * v + p.beta));
    case UnaryOp::kHardSwish:
      return v * fmaxf(0.f, fminf(1.f, v / 6.f + 0.5f));
    case UnaryOp::kMish:
      return v * tanhf(stable_softplus(v));
    case UnaryOp::kThresholdedRelu:
      return v > p.alpha ? v : 0.f;
    case UnaryOp::kFloor:
      return floorf(v);
    case UnaryOp::kCeil:
      return ceilf(v);
    case UnaryOp::kRound:
      return rintf(v);  // half to even
    case UnaryOp::kSign:
      return isnan(v) ? v : (v > 0.f ? 1.f : (v < 0.f ? -1.f : 0.f));
    case UnaryOp::kClip:
      // max(x, lo) then min(., hi): when lo > hi every element becomes hi (numpy.clip). NaN stays NaN.
      if (p.has_lo && v < p.lo) v = p.lo;
      if (p.has_hi && v > p.hi) v = p.hi;
      return v;
  }
  return v;
}

}  // namespace kiln::cuda
