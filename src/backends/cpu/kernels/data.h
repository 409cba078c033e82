// The data-movement kernel family (Transpose, Slice, Expand, Tile, Concat, Split, Gather, Cast, Where and the
// aliasing reshapes): supports/run pairs registered by register_data.cc.
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport data_supports(const Graph& g, const Node& n);    // input 0 of a fixed-size dtype
NodeSupport concat_supports(const Graph& g, const Node& n);  // every input the same fixed-size dtype
Status transpose_run(CpuKernelContext& ctx);
Status pixel_shuffle_run(CpuKernelContext& ctx);  // DepthToSpace, SpaceToDepth
NodeSupport grid_sample_supports(const Graph& g, const Node& n);
Status grid_sample_run(CpuKernelContext& ctx);
Status slice_run(CpuKernelContext& ctx);
Status expand_run(CpuKernelContext& ctx);
Status tile_run(CpuKernelContext& ctx);
Status concat_run(CpuKernelContext& ctx);
Status split_run(CpuKernelContext& ctx);
Status gather_run(CpuKernelContext& ctx);

NodeSupport cast_supports(const Graph& g, const Node& n);
Status cast_run(CpuKernelContext& ctx);
NodeSupport where_supports(const Graph& g, const Node& n);
Status where_run(CpuKernelContext& ctx);

NodeSupport alias_supports(const Graph& g, const Node& n);
Status reshape_run(CpuKernelContext& ctx);
Status flatten_run(CpuKernelContext& ctx);
Status squeeze_run(CpuKernelContext& ctx);
Status unsqueeze_run(CpuKernelContext& ctx);
Status identity_run(CpuKernelContext& ctx);
NodeSupport shape_supports(const Graph& g, const Node& n);
Status shape_run(CpuKernelContext& ctx);  // Shape and Size

NodeSupport pad_supports(const Graph& g, const Node& n);
Status pad_run(CpuKernelContext& ctx);

NodeSupport resize_supports(const Graph& g, const Node& n);
Status resize_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
