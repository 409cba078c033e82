// Registers the hand-written data CPU kernels.
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_data_kernels(CpuKernelRegistry& r) {}

}  // namespace kiln::cpu
