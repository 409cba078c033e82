// QuantizeLinear / DequantizeLinear CPU kernels (quantize.cc).
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport quantize_linear_supports(const Graph& g, const Node& n);
NodeSupport dequantize_linear_supports(const Graph& g, const Node& n);
Status quantize_linear_run(CpuKernelContext& ctx);
Status dequantize_linear_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
