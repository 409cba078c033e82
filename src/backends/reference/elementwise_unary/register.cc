// Reference kernels of the elementwise_unary family: one line per kernel.
#include "backends/reference/elementwise_unary/unary_kernels.h"

namespace kiln {

void register_elementwise_unary_kernels(KernelRegistry& r) {
  r.add(OpKind::kAbs, abs_kernel);
  r.add(OpKind::kAcos, acos_kernel);
  r.add(OpKind::kAcosh, acosh_kernel);
  r.add(OpKind::kAsin, asin_kernel);
  r.add(OpKind::kAsinh, asinh_kernel);
  r.add(OpKind::kAtan, atan_kernel);
  r.add(OpKind::kAtanh, atanh_kernel);
  r.add(OpKind::kCeil, ceil_kernel);
  r.add(OpKind::kCos, cos_kernel);
  r.add(OpKind::kCosh, cosh_kernel);
  r.add(OpKind::kErf, erf_kernel);
  r.add(OpKind::kExp, exp_kernel);
  r.add(OpKind::kFloor, floor_kernel);
  r.add(OpKind::kLog, log_kernel);
  r.add(OpKind::kNeg, neg_kernel);
  r.add(OpKind::kReciprocal, reciprocal_kernel);
  r.add(OpKind::kRound, round_kernel);
  r.add(OpKind::kSign, sign_kernel);
  r.add(OpKind::kSin, sin_kernel);
  r.add(OpKind::kSinh, sinh_kernel);
  r.add(OpKind::kSqrt, sqrt_kernel);
  r.add(OpKind::kTan, tan_kernel);
  r.add(OpKind::kTanh, tanh_kernel);
  r.add(OpKind::kNot, not_kernel);
  r.add(OpKind::kBitwiseNot, bitwise_not_kernel);
  r.add(OpKind::kIsInf, isinf_kernel);
  r.add(OpKind::kIsNaN, isnan_kernel);
  r.add(OpKind::kClip, clip_kernel);
  r.add(OpKind::kRelu, relu_kernel);
  r.add(OpKind::kLeakyRelu, leaky_relu_kernel);
  r.add(OpKind::kElu, elu_kernel);
  r.add(OpKind::kSelu, selu_kernel);
  r.add(OpKind::kCelu, celu_kernel);
  r.add(OpKind::kGelu, gelu_kernel);
  r.add(OpKind::kHardSigmoid, hard_sigmoid_kernel);
  r.add(OpKind::kHardSwish, hard_swish_kernel);
  r.add(OpKind::kMish, mish_kernel);
  r.add(OpKind::kSigmoid, sigmoid_kernel);
  r.add(OpKind::kSoftplus, softplus_kernel);
  r.add(OpKind::kSoftsign, softsign_kernel);
  r.add(OpKind::kSwish, swish_kernel);
  r.add(OpKind::kThresholdedRelu, thresholded_relu_kernel);
  r.add(OpKind::kShrink, shrink_kernel);
  r.add(OpKind::kCast, cast_kernel);
  r.add(OpKind::kCastLike, cast_like_kernel);
}

}  // namespace kiln
