// CUDA kernels of the elementwise family: one line per kernel.
#include "backends/cuda/elementwise/elementwise_kernels.h"

namespace kiln::cuda {

void register_elementwise_kernels(CudaKernelRegistry& r) {
  const CudaKernel unary{run_unary, supports_unary};
  r.add(OpKind::kAbs, unary);
  r.add(OpKind::kNeg, unary);
  r.add(OpKind::kExp, unary);
  r.add(OpKind::kLog, unary);
  r.add(OpKind::kSqrt, unary);
  r.add(OpKind::kReciprocal, unary);
  r.add(OpKind::kSin, unary);
  r.add(OpKind::kCos, unary);
  r.add(OpKind::kTan, unary);
  r.add(OpKind::kTanh, unary);
  r.add(OpKind::kAsin, unary);
  r.add(OpKind::kAcos, unary);
  r.add(OpKind::kAtan, unary);
  r.add(OpKind::kSinh, unary);
  r.add(OpKind::kCosh, unary);
  r.add(OpKind::kAsinh, unary);
  r.add(OpKind::kAcosh, unary);
  r.add(OpKind::kAtanh, unary);
  r.add(OpKind::kSigmoid, unary);
  r.add(OpKind::kRelu, unary);
  r.add(OpKind::kLeakyRelu, unary);
  r.add(OpKind::kElu, unary);
  r.add(OpKind::kSelu, unary);
  r.add(OpKind::kCelu, unary);
  r.add(OpKind::kErf, unary);
  r.add(OpKind::kGelu, unary);
  r.add(OpKind::kSwish, unary);
  r.add(OpKind::kSoftplus, unary);
  r.add(OpKind::kSoftsign, unary);
  r.add(OpKind::kHardSigmoid, unary);
  r.add(OpKind::kHardSwish, unary);
  r.add(OpKind::kMish, unary);
  r.add(OpKind::kThresholdedRelu, unary);
  r.add(OpKind::kFloor, unary);
  r.add(OpKind::kCeil, unary);
  r.add(OpKind::kRound, unary);
  r.add(OpKind::kSign, unary);
  r.add(OpKind::kClip, unary);
  r.add(OpKind::kNot, {run_not, supports_not});
  r.add(OpKind::kIsNaN, {run_classify, supports_classify});
  r.add(OpKind::kIsInf, {run_classify, supports_classify});

  const CudaKernel binary{run_binary, supports_binary};
  r.add(OpKind::kAdd, binary);
  r.add(OpKind::kSub, binary);
  r.add(OpKind::kMul, binary);
  r.add(OpKind::kDiv, binary);
  r.add(OpKind::kMod, binary);
  r.add(OpKind::kPow, binary);
  r.add(OpKind::kMax, binary);
  r.add(OpKind::kMin, binary);
  r.add(OpKind::kSum, binary);
  r.add(OpKind::kMean, binary);
  r.add(OpKind::kPRelu, binary);
  r.add(OpKind::kEqual, binary);
  r.add(OpKind::kLess, binary);
  r.add(OpKind::kLessOrEqual, binary);
  r.add(OpKind::kGreater, binary);
  r.add(OpKind::kGreaterOrEqual, binary);
  r.add(OpKind::kAnd, binary);
  r.add(OpKind::kOr, binary);
  r.add(OpKind::kXor, binary);
  r.add(OpKind::kBitwiseAnd, binary);
  r.add(OpKind::kBitwiseOr, binary);
  r.add(OpKind::kBitwiseXor, binary);
  r.add(OpKind::kWhere, {run_where, supports_where});
  r.add(OpKind::kCast, {run_cast, supports_cast});
  r.add(OpKind::kCastLike, {run_cast, supports_cast});
  r.add(OpKind::kFusedElementwise, {run_fused_elementwise, supports_fused_elementwise});
}

}  // namespace kiln::cuda
