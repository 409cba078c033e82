// Reference kernels of the elementwise_binary family: one line per kernel.
#include "backends/reference/elementwise_binary/kernels.h"

namespace kiln {

void register_elementwise_binary_kernels(KernelRegistry& r) {
  r.add(OpKind::kAdd, add_kernel);
  r.add(OpKind::kSub, sub_kernel);
  r.add(OpKind::kMul, mul_kernel);
  r.add(OpKind::kDiv, div_kernel);
  r.add(OpKind::kMod, mod_kernel);
  r.add(OpKind::kPow, pow_kernel);
  r.add(OpKind::kAnd, and_kernel);
  r.add(OpKind::kOr, or_kernel);
  r.add(OpKind::kXor, xor_kernel);
  r.add(OpKind::kEqual, equal_kernel);
  r.add(OpKind::kGreater, greater_kernel);
  r.add(OpKind::kGreaterOrEqual, greater_or_equal_kernel);
  r.add(OpKind::kLess, less_kernel);
  r.add(OpKind::kLessOrEqual, less_or_equal_kernel);
  r.add(OpKind::kBitShift, bit_shift_kernel);
  r.add(OpKind::kBitwiseAnd, bitwise_and_kernel);
  r.add(OpKind::kBitwiseOr, bitwise_or_kernel);
  r.add(OpKind::kBitwiseXor, bitwise_xor_kernel);
  r.add(OpKind::kMax, max_kernel);
  r.add(OpKind::kMin, min_kernel);
  r.add(OpKind::kMean, mean_kernel);
  r.add(OpKind::kSum, sum_kernel);
  r.add(OpKind::kPRelu, prelu_kernel);
  r.add(OpKind::kWhere, where_kernel);
  r.add(OpKind::kQuantizeLinear, quantize_linear_kernel);
  r.add(OpKind::kDequantizeLinear, dequantize_linear_kernel);
  r.add(OpKind::kDynamicQuantizeLinear, dynamic_quantize_linear_kernel);
  r.add(OpKind::kQLinearAdd, qlinear_add_kernel);
  r.add(OpKind::kQLinearMul, qlinear_mul_kernel);
}

}  // namespace kiln
