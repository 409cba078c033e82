// CUDA kernels of the conv family: one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_conv_kernels(CudaKernelRegistry& r) {}

}  // namespace kiln::cuda
