// Registers the hand-written norm CPU kernels.
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_norm_kernels(CpuKernelRegistry& r) {}

}  // namespace kiln::cpu
