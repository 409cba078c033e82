// CUDA kernels of the conv family: one line per kernel.
#include "backends/cuda/conv/conv_kernels.h"

namespace kiln::cuda {

void register_conv_kernels(CudaKernelRegistry& r) {
  r.add(OpKind::kConv, conv_kernel());                              // cuDNN, 1-D..3-D, groups
  r.add(OpKind::kFusedConv, fused_conv_kernel());                   // cuDNN + epilogue, NCHW/NHWC
  r.add(OpKind::kConvTranspose, conv_transpose_kernel());           // cuDNN backward-data + crop
  r.add(OpKind::kMaxPool, max_pool_kernel());                       // own kernel; Indices -> reference
  r.add(OpKind::kAveragePool, average_pool_kernel());               // own kernel
  r.add(OpKind::kGlobalAveragePool, global_average_pool_kernel());  // own kernel
  r.add(OpKind::kGlobalMaxPool, global_max_pool_kernel());          // own kernel
  r.add(OpKind::kBatchNormalization, batch_norm_kernel());          // inference only
  r.add(OpKind::kInstanceNormalization, instance_norm_kernel());    // own kernel
  r.add(OpKind::kLRN, lrn_kernel());                                // own kernel
}

}  // namespace kiln::cuda
