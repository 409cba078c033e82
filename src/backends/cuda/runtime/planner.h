// Build-time work of a CUDA engine: where each node runs, and the fastest tactic of each GPU node.
#pragma once
#include <memory>
#include <vector>

#include "ir/graph.h"
#include "backends/cuda/runtime/engine_state.h"
#include "kiln/engine.h"
#include "runtime/backend.h"

namespace kiln::cuda {

// Where each node of `g` runs on a CUDA engine: kCuda when a kernel supports it, kHost for shape arithmetic (Shape,
// Size and nodes that read only such small host values), kCpu (not CUDA's: the next backend) otherwise, with the
// reason in (*why)[i] when `why` is given.
std::vector<Placement> place_nodes(const Graph& g, std::vector<std::string>* why);

// For the nodes whose plan names "cuda": records the target device in info->compat/device, sets the plan's kernel
// ("host" for kHost nodes, else the op name) and, on that GPU, runs the engine once at each profile's opt shapes (the
// first profile; static dims otherwise, symbolic dims = 1) timing every tactic of nodes with several; the fastest
// goes in plans[i].tactic (with its name). The timing cache (options.timing_cache) is read and updated.
Status place_and_tune(const std::shared_ptr<Graph>& g, const BuildOptions& options,
                      const std::vector<OptimizationProfile>& profiles, EngineInfo* info, std::vector<NodePlan>& plans);

}  // namespace kiln::cuda
