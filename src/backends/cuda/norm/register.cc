// CUDA kernels of the norm family: one line per kernel.
#include "backends/cuda/kernel.h"
#include "backends/cuda/norm/kernels.h"

namespace kiln::cuda {

void register_norm_kernels(CudaKernelRegistry& r) {
  r.add(OpKind::kSoftmax, norm::softmax_kernel());
  r.add(OpKind::kLogSoftmax, norm::log_softmax_kernel());
  r.add(OpKind::kLayerNormalization, norm::layer_norm_kernel());
  r.add(OpKind::kFusedAddLayerNorm, norm::fused_add_layer_norm_kernel());
  r.add(OpKind::kRMSNormalization, norm::rms_norm_kernel());
  r.add(OpKind::kGroupNormalization, norm::group_norm_kernel());
  r.add(OpKind::kReduceL1, norm::reduce_kernel(OpKind::kReduceL1));
  r.add(OpKind::kReduceL2, norm::reduce_kernel(OpKind::kReduceL2));
  r.add(OpKind::kReduceLogSum, norm::reduce_kernel(OpKind::kReduceLogSum));
  r.add(OpKind::kReduceLogSumExp, norm::reduce_kernel(OpKind::kReduceLogSumExp));
  r.add(OpKind::kReduceMax, norm::reduce_kernel(OpKind::kReduceMax));
  r.add(OpKind::kReduceMean, norm::reduce_kernel(OpKind::kReduceMean));
  r.add(OpKind::kReduceMin, norm::reduce_kernel(OpKind::kReduceMin));
  r.add(OpKind::kReduceProd, norm::reduce_kernel(OpKind::kReduceProd));
  r.add(OpKind::kReduceSum, norm::reduce_kernel(OpKind::kReduceSum));
  r.add(OpKind::kReduceSumSquare, norm::reduce_kernel(OpKind::kReduceSumSquare));
  r.add(OpKind::kArgMax, norm::arg_max_kernel());
  r.add(OpKind::kArgMin, norm::arg_min_kernel());
  r.add(OpKind::kAttention, norm::attention_kernel());
  r.add(OpKind::kTopK, norm::top_k_kernel());
}

}  // namespace kiln::cuda
