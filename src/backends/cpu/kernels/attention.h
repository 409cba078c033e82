// The attention kernel family (ONNX Attention without a KV cache): supports/run registered by
// register_attention.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport attention_supports(const Graph& g, const Node& n);
Status attention_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
