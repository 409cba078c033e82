// The indexed-access kernel family: GatherElements, GatherND, ScatterElements, ScatterND (element and slice copies
// by index tensors), TopK (selection per row), CumSum (running sums), Trilu (triangle masks) and NonZero. Detection and
// ranking post-processing spends its time here; supports/run pairs registered by register_data.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport gather_elements_supports(const Graph& g, const Node& n);  // any fixed-size data, int32/int64 indices
Status gather_elements_run(CpuKernelContext& ctx);
NodeSupport gather_nd_supports(const Graph& g, const Node& n);
Status gather_nd_run(CpuKernelContext& ctx);
// ScatterElements and ScatterND: reduction "none" on any fixed-size dtype; add/mul/max/min on float32, int32, int64.
NodeSupport scatter_supports(const Graph& g, const Node& n);
Status scatter_elements_run(CpuKernelContext& ctx);
Status scatter_nd_run(CpuKernelContext& ctx);
NodeSupport top_k_supports(const Graph& g, const Node& n);  // float32, float64, int32, int64; opset >= 10 (K input)
Status top_k_run(CpuKernelContext& ctx);
NodeSupport cum_sum_supports(const Graph& g, const Node& n);  // float32, float64, int32, int64
Status cum_sum_run(CpuKernelContext& ctx);
NodeSupport trilu_supports(const Graph& g, const Node& n);  // any fixed-size dtype
Status trilu_run(CpuKernelContext& ctx);
NodeSupport non_zero_supports(const Graph& g, const Node& n);  // bool, uint8, int8, int32, int64, float32
Status non_zero_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
