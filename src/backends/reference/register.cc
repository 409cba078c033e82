// The reference backend's kernel list: each family file registers one line per kernel.
#include "backends/reference/kernel.h"

namespace kiln {

void register_elementwise_unary_kernels(KernelRegistry& r);
void register_elementwise_binary_kernels(KernelRegistry& r);
void register_tensor_kernels(KernelRegistry& r);
void register_nn_kernels(KernelRegistry& r);
void register_math_kernels(KernelRegistry& r);
void register_control_kernels(KernelRegistry& r);
void register_attention_kernels(KernelRegistry& r);
void register_fused_kernels(KernelRegistry& r);

const KernelRegistry& reference_kernels() {
  static const KernelRegistry* reg = [] {
    auto* r = new KernelRegistry();
    register_elementwise_unary_kernels(*r);
    register_elementwise_binary_kernels(*r);
    register_tensor_kernels(*r);
    register_nn_kernels(*r);
    register_math_kernels(*r);
    register_control_kernels(*r);
    register_attention_kernels(*r);
    register_fused_kernels(*r);
    return r;
  }();
  return *reg;
}

}  // namespace kiln
