// Registers the hand-written attention CPU kernels.
#include "backends/cpu/kernels/attention.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_attention_kernels(CpuKernelRegistry& r) {
  r.add(OpKind::kAttention, {"attention", kern::attention_supports, kern::attention_run});
}

}  // namespace kiln::cpu
