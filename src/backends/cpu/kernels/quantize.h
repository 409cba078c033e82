// QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear / LookupTable CPU kernels (quantize.cc).
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport quantize_linear_supports(const Graph& g, const Node& n);
NodeSupport dequantize_linear_supports(const Graph& g, const Node& n);
Status quantize_linear_run(CpuKernelContext& ctx);
Status dequantize_linear_run(CpuKernelContext& ctx);
NodeSupport dynamic_quantize_linear_supports(const Graph& g, const Node& n);
Status dynamic_quantize_linear_run(CpuKernelContext& ctx);
// y[i] = table[x[i] ^ flip] over n bytes (flip 0x80: int8 codes index a table that starts at -128).
void lookup_bytes(const uint8_t* x, const uint8_t* table, uint8_t flip, uint8_t* y, int64_t n);
NodeSupport lookup_table_supports(const Graph& g, const Node& n);
Status lookup_table_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
