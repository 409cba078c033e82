// The CPU backend's kernel registry: every kernel family registers here, oneDNN first (preferred), then the
// hand-written kernels (src/backends/cpu/kernels).
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_onednn_kernels(CpuKernelRegistry& r);  // src/backends/cpu/onednn/register.cc

const CpuKernelRegistry& cpu_kernels() {
  static const CpuKernelRegistry registry = [] {
    CpuKernelRegistry r;
    register_onednn_kernels(r);
    register_cpu_elementwise_kernels(r);
    register_cpu_norm_kernels(r);
    register_cpu_data_kernels(r);
    register_cpu_attention_kernels(r);
    register_cpu_rnn_kernels(r);
    register_cpu_quant_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace kiln::cpu
