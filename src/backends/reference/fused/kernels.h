// Declarations of the reference kernels of Kiln's fused ops (registered in register.cc).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln::fused_ref {

Status fused_conv(KernelContext& ctx);
Status fused_matmul(KernelContext& ctx);
Status fused_elementwise(KernelContext& ctx);
Status fused_add_layer_norm(KernelContext& ctx);
Status lookup_table(KernelContext& ctx);

}  // namespace kiln::fused_ref
