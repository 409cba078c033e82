// Declarations of the math-family reference kernels (registered in register.cc).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln::math_ref {

Status matmul(KernelContext& ctx);
Status matmul_integer(KernelContext& ctx);
Status qlinear_matmul(KernelContext& ctx);
Status gemm(KernelContext& ctx);
Status einsum(KernelContext& ctx);
Status det(KernelContext& ctx);
Status reduce_l1(KernelContext& ctx);
Status reduce_l2(KernelContext& ctx);
Status reduce_log_sum(KernelContext& ctx);
Status reduce_log_sum_exp(KernelContext& ctx);
Status reduce_max(KernelContext& ctx);
Status reduce_mean(KernelContext& ctx);
Status reduce_min(KernelContext& ctx);
Status reduce_prod(KernelContext& ctx);
Status reduce_sum(KernelContext& ctx);
Status reduce_sum_square(KernelContext& ctx);
Status softmax(KernelContext& ctx);
Status log_softmax(KernelContext& ctx);
Status hardmax(KernelContext& ctx);
Status negative_log_likelihood_loss(KernelContext& ctx);
Status softmax_cross_entropy_loss(KernelContext& ctx);
Status dft(KernelContext& ctx);
Status stft(KernelContext& ctx);
Status blackman_window(KernelContext& ctx);
Status hamming_window(KernelContext& ctx);
Status hann_window(KernelContext& ctx);
Status mel_weight_matrix(KernelContext& ctx);

}  // namespace kiln::math_ref
