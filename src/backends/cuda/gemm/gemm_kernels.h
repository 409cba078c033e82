// The gemm family's kernels, for register.cc.
#pragma once
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

CudaKernel matmul_kernel();
CudaKernel gemm_kernel();
CudaKernel fused_matmul_kernel();

}  // namespace kiln::cuda
