// CUDA kernels of the elementwise family: one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_elementwise_kernels(CudaKernelRegistry& r) {}

}  // namespace kiln::cuda
