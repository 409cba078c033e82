// Optimization profiles: validation against the model's inputs, and checking a shape against them.
#pragma once
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln {

// Profiles from --shapes (one fixed profile) and --min/opt/max-shapes, else from --tune-batch-sizes (one per size, when
// every input's first dim is dynamic and its other dims known; none otherwise). Checks that each named input exists,
// ranks match, min <= opt <= max, and known model dims are respected.
Result<std::vector<OptimizationProfile>> make_profiles(const Graph& graph, const BuildOptions& options);
// OK if `dims` of input `name` lie inside at least one profile (or there are no profiles / none names it).
Status check_profiles(const std::vector<OptimizationProfile>& profiles, const std::string& name, const Dims& dims);

}  // namespace kiln
