// Vectorized float32 row functions of the elementwise kernels: one unary op over a row (with up to two float
// parameters) and one binary op over a row where either operand may be a broadcast scalar.
#pragma once
#include <cstdint>
#include <optional>

#include "ir/infer/fused_ops.h"

namespace kiln::cpu::kern {

enum class UOp : uint8_t {
  kNeg, kAbs, kRelu, kSigmoid, kTanh, kExp, kLog, kSqrt, kReciprocal, kErf, kGelu, kGeluTanh, kSilu, kFloor, kCeil,
  kLeakyRelu,    // p0 = alpha
  kClip,         // p0 = lo, p1 = hi (lo applied first: numpy.clip)
  kHardSigmoid,  // p0 = alpha, p1 = beta
  kHardSwish, kSoftplus, kElu /* p0 = alpha */, kRound, kSign, kIdentity,
  kSwish,        // p0 = alpha: x * sigmoid(alpha * x)
  kMish, kSoftsign, kSin, kCos,
  kSelu,             // p0 = alpha, p1 = gamma
  kCelu,             // p0 = alpha
  kThresholdedRelu,  // p0 = alpha
};
enum class BOp : uint8_t { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kPRelu /* a < 0 ? a * b : a */ };

// y[i] = op(x[i]) for i < n (x == y allowed).
void unary_row(UOp op, const float* x, float* y, int64_t n, float p0, float p1);
// y[i] = op(a[i*sa], b[i*sb]) with sa, sb in {0, 1} (y may alias a or b).
void binary_row(BOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n);

// The unary / binary op of a FusedElementwise step (nullopt when it is the other arity).
std::optional<UOp> unary_of(fused::EwOp op);
std::optional<BOp> binary_of(fused::EwOp op);

}  // namespace kiln::cpu::kern
