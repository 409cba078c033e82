// Declarations of the elementwise_binary family's reference kernels (registered in register.cc).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln {

// arithmetic.cc
Status add_kernel(KernelContext& ctx);
Status sub_kernel(KernelContext& ctx);
Status mul_kernel(KernelContext& ctx);
Status div_kernel(KernelContext& ctx);
Status mod_kernel(KernelContext& ctx);
// pow.cc
Status pow_kernel(KernelContext& ctx);
// logical.cc
Status and_kernel(KernelContext& ctx);
Status or_kernel(KernelContext& ctx);
Status xor_kernel(KernelContext& ctx);
Status equal_kernel(KernelContext& ctx);
Status greater_kernel(KernelContext& ctx);
Status greater_or_equal_kernel(KernelContext& ctx);
Status less_kernel(KernelContext& ctx);
Status less_or_equal_kernel(KernelContext& ctx);
// bitwise.cc
Status bit_shift_kernel(KernelContext& ctx);
Status bitwise_and_kernel(KernelContext& ctx);
Status bitwise_or_kernel(KernelContext& ctx);
Status bitwise_xor_kernel(KernelContext& ctx);
// variadic.cc
Status max_kernel(KernelContext& ctx);
Status min_kernel(KernelContext& ctx);
Status mean_kernel(KernelContext& ctx);
Status sum_kernel(KernelContext& ctx);
// select.cc
Status prelu_kernel(KernelContext& ctx);
Status where_kernel(KernelContext& ctx);
// quantize.cc
Status quantize_linear_kernel(KernelContext& ctx);
Status dequantize_linear_kernel(KernelContext& ctx);
Status dynamic_quantize_linear_kernel(KernelContext& ctx);
// qlinear_binary.cc
Status qlinear_add_kernel(KernelContext& ctx);
Status qlinear_mul_kernel(KernelContext& ctx);

}  // namespace kiln
