// The normalization / reduction kernel family (Softmax, LogSoftmax, LayerNormalization, RMSNormalization,
// FusedAddLayerNorm, ReduceSum/Mean/Max/Min/L2/SumSquare): supports/run pairs registered by register_norm.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"
#include "ir/infer/fused_ops.h"

namespace kiln::cpu::kern {

NodeSupport softmax_supports(const Graph& g, const Node& n);
Status softmax_run(CpuKernelContext& ctx);
Status log_softmax_run(CpuKernelContext& ctx);
NodeSupport layer_norm_supports(const Graph& g, const Node& n);
Status layer_norm_run(CpuKernelContext& ctx);
Status rms_norm_run(CpuKernelContext& ctx);
NodeSupport add_layer_norm_supports(const Graph& g, const Node& n);
Status add_layer_norm_run(CpuKernelContext& ctx);
NodeSupport group_norm_supports(const Graph& g, const Node& n);  // GroupNormalization, InstanceNormalization
Status group_norm_run(CpuKernelContext& ctx);
Status instance_norm_run(CpuKernelContext& ctx);
NodeSupport batch_norm_supports(const Graph& g, const Node& n);
Status batch_norm_run(CpuKernelContext& ctx);
NodeSupport reduce_supports(const Graph& g, const Node& n);
NodeSupport arg_reduce_supports(const Graph& g, const Node& n);
Status arg_reduce_run(CpuKernelContext& ctx);  // ArgMax, ArgMin
Status reduce_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
