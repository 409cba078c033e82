// The norm family's CUDA kernels, one factory per op (registered in register.cc).
#pragma once
#include "backends/cuda/kernel.h"

namespace kiln::cuda::norm {

CudaKernel softmax_kernel();
CudaKernel log_softmax_kernel();
CudaKernel layer_norm_kernel();
CudaKernel fused_add_layer_norm_kernel();  // FusedAddLayerNorm: LayerNorm(X + R) in one pass
CudaKernel rms_norm_kernel();
CudaKernel group_norm_kernel();
CudaKernel reduce_kernel(OpKind op);  // any Reduce* op
CudaKernel arg_max_kernel();
CudaKernel arg_min_kernel();
CudaKernel attention_kernel();
CudaKernel top_k_kernel();

}  // namespace kiln::cuda::norm
