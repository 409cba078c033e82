// Launch functions of the CUDA elementwise unary kernels (device code in unary.cu).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

enum class UnaryOp : int {
  kAbs,
  kNeg,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kSin,
  kCos,
  kTan,
  kTanh,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kAsinh,
  kAcosh,
  kAtanh,
  kSigmoid,
  kRelu,
  kLeakyRelu,
  kElu,
  kSelu,
  kCelu,
  kErf,
  kGelu,
  kGeluTanh,
  kSilu,
  kSwish,
  kSoftplus,
  kSoftsign,
  kHardSigmoid,
  kHardSwish,
  kMish,
  kThresholdedRelu,
  kFloor,
  kCeil,
  kRound,
  kSign,
  kClip,
};

// Attribute values some ops read (LeakyRelu alpha, Selu alpha/gamma, Clip lo/hi, ...).
struct UnaryParams {
  float alpha = 0.f, beta = 0.f, gamma = 0.f;
  // Clip bounds: has_lo/has_hi select them; ints use ilo/ihi.
  bool has_lo = false, has_hi = false;
  float lo = 0.f, hi = 0.f;
  int64_t ilo = 0, ihi = 0;
};

// y[i] = op(x[i]) for n elements (n > 0) of dtype float32/float16/bfloat16 (computed in float32) or, for
// Abs/Neg/Sign/Relu/Clip, int32/int64. Returns cudaErrorInvalidValue for a combination it lacks.
cudaError_t launch_unary(UnaryOp op, DType dtype, const void* x, void* y, int64_t n, const UnaryParams& p,
                         cudaStream_t stream);

// Bool/classification kernels: Not (bool -> bool), IsNaN / IsInf (float dtypes -> bool).
cudaError_t launch_not(const uint8_t* x, uint8_t* y, int64_t n, cudaStream_t stream);
cudaError_t launch_isnan(DType dtype, const void* x, uint8_t* y, int64_t n, cudaStream_t stream);
cudaError_t launch_isinf(DType dtype, const void* x, uint8_t* y, int64_t n, bool detect_pos, bool detect_neg,
                         cudaStream_t stream);

}  // namespace kiln::cuda
