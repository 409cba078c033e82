// CUDA kernels of the norm family: one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_norm_kernels(CudaKernelRegistry& r) {}

}  // namespace kiln::cuda
