// CUDA kernels of the gemm family: one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_gemm_kernels(CudaKernelRegistry& r) {}

}  // namespace kiln::cuda
