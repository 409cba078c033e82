// The elementwise kernel family (unary, binary, FusedElementwise, Cast, Where, Expand): supports/run pairs
// registered by register_elementwise.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport unary_supports(const Graph& g, const Node& n);
Status unary_run(CpuKernelContext& ctx);
NodeSupport binary_supports(const Graph& g, const Node& n);
// Sum, Mean and Max/Min of any input count (float32; variadic.cc).
NodeSupport variadic_supports(const Graph& g, const Node& n);
Status variadic_run(CpuKernelContext& ctx);
Status binary_run(CpuKernelContext& ctx);
NodeSupport fused_eltwise_supports(const Graph& g, const Node& n);
Status fused_eltwise_run(CpuKernelContext& ctx);

// logic.cc: comparisons, logical ops, integer Div, Range, ConstantOfShape.
NodeSupport compare_supports(const Graph& g, const Node& n);
Status compare_run(CpuKernelContext& ctx);
NodeSupport not_supports(const Graph& g, const Node& n);
Status not_run(CpuKernelContext& ctx);
NodeSupport int_div_supports(const Graph& g, const Node& n);
Status int_div_run(CpuKernelContext& ctx);
// Mod: int32/int64 (fmod 0 or 1), float32 (fmod 1).
NodeSupport mod_supports(const Graph& g, const Node& n);
Status mod_run(CpuKernelContext& ctx);
NodeSupport range_supports(const Graph& g, const Node& n);
Status range_run(CpuKernelContext& ctx);
NodeSupport constant_of_shape_supports(const Graph& g, const Node& n);
Status constant_of_shape_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
