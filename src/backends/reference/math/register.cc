// Reference kernels of the math family: one line per kernel.
#include "backends/reference/kernel.h"
#include "backends/reference/math/math_kernels.h"

namespace kiln {

void register_math_kernels(KernelRegistry& r) {
  using namespace math_ref;  // NOLINT
  r.add(OpKind::kMatMul, matmul);
  r.add(OpKind::kMatMulInteger, matmul_integer);
  r.add(OpKind::kQLinearMatMul, qlinear_matmul);
  r.add(OpKind::kGemm, gemm);
  r.add(OpKind::kEinsum, einsum);
  r.add(OpKind::kDet, det);
  r.add(OpKind::kReduceL1, reduce_l1);
  r.add(OpKind::kReduceL2, reduce_l2);
  r.add(OpKind::kReduceLogSum, reduce_log_sum);
  r.add(OpKind::kReduceLogSumExp, reduce_log_sum_exp);
  r.add(OpKind::kReduceMax, reduce_max);
  r.add(OpKind::kReduceMean, reduce_mean);
  r.add(OpKind::kReduceMin, reduce_min);
  r.add(OpKind::kReduceProd, reduce_prod);
  r.add(OpKind::kReduceSum, reduce_sum);
  r.add(OpKind::kReduceSumSquare, reduce_sum_square);
  r.add(OpKind::kSoftmax, softmax);
  r.add(OpKind::kLogSoftmax, log_softmax);
  r.add(OpKind::kHardmax, hardmax);
  r.add(OpKind::kNegativeLogLikelihoodLoss, negative_log_likelihood_loss);
  r.add(OpKind::kSoftmaxCrossEntropyLoss, softmax_cross_entropy_loss);
  r.add(OpKind::kDFT, dft);
  r.add(OpKind::kSTFT, stft);
  r.add(OpKind::kBlackmanWindow, blackman_window);
  r.add(OpKind::kHammingWindow, hamming_window);
  r.add(OpKind::kHannWindow, hann_window);
  r.add(OpKind::kMelWeightMatrix, mel_weight_matrix);
}

}  // namespace kiln
