// Registers the hand-written elementwise CPU kernels: unary math/activations, broadcasting binary arithmetic,
// variadic Sum/Mean/Max/Min, FusedElementwise programs, comparisons/logic, integer Div, Range, ConstantOfShape.
#include "backends/cpu/kernels/eltwise.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_elementwise_kernels(CpuKernelRegistry& r) {
  using namespace kern;
  const CpuKernel unary{"eltwise_unary", unary_supports, unary_run, /*takes_handoffs=*/true};
  for (OpKind op : {OpKind::kNeg, OpKind::kAbs, OpKind::kRelu, OpKind::kSigmoid, OpKind::kTanh, OpKind::kExp,
                    OpKind::kLog, OpKind::kSqrt, OpKind::kReciprocal, OpKind::kErf, OpKind::kFloor, OpKind::kCeil,
                    OpKind::kLeakyRelu, OpKind::kClip, OpKind::kHardSigmoid, OpKind::kHardSwish, OpKind::kSoftplus,
                    OpKind::kElu, OpKind::kRound, OpKind::kSign, OpKind::kGelu, OpKind::kSwish, OpKind::kMish,
                    OpKind::kSoftsign, OpKind::kSin, OpKind::kCos, OpKind::kSelu, OpKind::kCelu,
                    OpKind::kThresholdedRelu})
    r.add(op, unary);
  const CpuKernel binary{"eltwise_binary", binary_supports, binary_run, /*takes_handoffs=*/true};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kPow, OpKind::kMax, OpKind::kMin,
                    OpKind::kPRelu})
    r.add(op, binary);
  for (OpKind op : {OpKind::kSum, OpKind::kMean, OpKind::kMax, OpKind::kMin})  // Max/Min: beyond two inputs
    r.add(op, {"variadic", variadic_supports, variadic_run});
  r.add(OpKind::kFusedElementwise, {"fused_eltwise", fused_eltwise_supports, fused_eltwise_run});
  r.add(OpKind::kDiv, {"int_div", int_div_supports, int_div_run});
  r.add(OpKind::kMod, {"mod", mod_supports, mod_run});
  for (OpKind op : {OpKind::kEqual, OpKind::kLess, OpKind::kLessOrEqual, OpKind::kGreater, OpKind::kGreaterOrEqual,
                    OpKind::kAnd, OpKind::kOr, OpKind::kXor})
    r.add(op, {"compare", compare_supports, compare_run});
  r.add(OpKind::kNot, {"not", not_supports, not_run});
  r.add(OpKind::kRange, {"range", range_supports, range_run});
  r.add(OpKind::kConstantOfShape, {"constant_of_shape", constant_of_shape_supports, constant_of_shape_run});
}

}  // namespace kiln::cpu
