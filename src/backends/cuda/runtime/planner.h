// Build-time work of a CUDA engine: where each node runs, and the fastest tactic of each GPU node.
#pragma once
#include <memory>
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln::cuda {

// Marks every node with kiln_placement (cuda | host | cpu): CUDA when a kernel supports it, host for shape
// arithmetic (Shape, Size and nodes that read only such small host values), cpu (reference fallback) otherwise.
void place_nodes(Graph& g);

// place_nodes, then records the target device in info->compat/device and, on that GPU, runs the engine once at each
// profile's opt shapes (the first profile; static dims otherwise, symbolic dims = 1) timing every tactic of nodes
// with several; the fastest is stored as kiln_tactic. The timing cache (options.timing_cache) is read and updated.
Status place_and_tune(const std::shared_ptr<Graph>& g, const BuildOptions& options,
                      const std::vector<OptimizationProfile>& profiles, EngineInfo* info);

}  // namespace kiln::cuda
