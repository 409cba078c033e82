// Shape and type inference for the math family: registration (the functions live in math_*.cc).
#include "ir/infer_helpers.h"

namespace kiln {

namespace math_infer {
Status infer_matmul(InferContext& ctx);
Status infer_matmul_integer(InferContext& ctx);
Status infer_qlinear_matmul(InferContext& ctx);
Status infer_gemm(InferContext& ctx);
Status infer_einsum(InferContext& ctx);
Status infer_det(InferContext& ctx);
Status infer_reduce(InferContext& ctx);
Status infer_softmax(InferContext& ctx);
Status infer_nll_loss(InferContext& ctx);
Status infer_sce_loss(InferContext& ctx);
Status infer_dft(InferContext& ctx);
Status infer_stft(InferContext& ctx);
Status infer_window(InferContext& ctx);
Status infer_mel_weight_matrix(InferContext& ctx);
}  // namespace math_infer

void register_math_infer(InferRegistry& r) {
  using namespace math_infer;  // NOLINT
  r.add(OpKind::kMatMul, infer_matmul);
  r.add(OpKind::kMatMulInteger, infer_matmul_integer);
  r.add(OpKind::kQLinearMatMul, infer_qlinear_matmul);
  r.add(OpKind::kGemm, infer_gemm);
  r.add(OpKind::kEinsum, infer_einsum);
  r.add(OpKind::kDet, infer_det);
  for (OpKind op :
       {OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceLogSum, OpKind::kReduceLogSumExp, OpKind::kReduceMax,
        OpKind::kReduceMean, OpKind::kReduceMin, OpKind::kReduceProd, OpKind::kReduceSum, OpKind::kReduceSumSquare})
    r.add(op, infer_reduce);
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax, OpKind::kHardmax}) r.add(op, infer_softmax);
  r.add(OpKind::kNegativeLogLikelihoodLoss, infer_nll_loss);
  r.add(OpKind::kSoftmaxCrossEntropyLoss, infer_sce_loss);
  r.add(OpKind::kDFT, infer_dft);
  r.add(OpKind::kSTFT, infer_stft);
  for (OpKind op : {OpKind::kBlackmanWindow, OpKind::kHammingWindow, OpKind::kHannWindow}) r.add(op, infer_window);
  r.add(OpKind::kMelWeightMatrix, infer_mel_weight_matrix);
}

}  // namespace kiln
