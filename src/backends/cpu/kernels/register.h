// Entry points of the hand-written CPU kernel families, called by src/backends/cpu/register.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void register_cpu_elementwise_kernels(CpuKernelRegistry& r);  // unary, binary, FusedElementwise, Cast, Where
void register_cpu_norm_kernels(CpuKernelRegistry& r);         // Softmax, LayerNorm, RMSNorm, reductions
void register_cpu_data_kernels(CpuKernelRegistry& r);         // Transpose, Concat, Slice, Gather, reshapes
void register_cpu_attention_kernels(CpuKernelRegistry& r);    // Attention (no KV cache)
void register_cpu_rnn_kernels(CpuKernelRegistry& r);          // LSTM, GRU
void register_cpu_quant_kernels(CpuKernelRegistry& r);        // QuantizeLinear, DequantizeLinear

}  // namespace kiln::cpu
