// The conv family's kernels, for register.cc.
#pragma once
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

CudaKernel conv_kernel();
CudaKernel fused_conv_kernel();
CudaKernel conv_transpose_kernel();
CudaKernel max_pool_kernel();
CudaKernel average_pool_kernel();
CudaKernel global_average_pool_kernel();
CudaKernel global_max_pool_kernel();
CudaKernel batch_norm_kernel();
CudaKernel instance_norm_kernel();
CudaKernel lrn_kernel();

}  // namespace kiln::cuda
