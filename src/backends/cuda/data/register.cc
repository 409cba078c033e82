// CUDA kernels of the data family: one line per kernel.
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void register_data_kernels(CudaKernelRegistry& r) {}

}  // namespace kiln::cuda
