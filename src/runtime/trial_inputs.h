// Synthetic inputs for trial runs at build time (tactic timing on CUDA, the bf16/float32 choice on the CPU).
#pragma once
#include <random>
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln {

// A tensor of `dims`: uniform [-1, 1) for float32/float64, 1.0 for float16/bfloat16, zeros for everything else
// (ids and masks: index 0 is valid for any embedding table).
Tensor random_input(DType dtype, const Dims& dims, std::mt19937& rng);

// One value per graph input at the opt shape of profile `profile` (default the first; dims without a profile: their
// known size, else 1). failed_precondition when an input cannot be synthesized (not a tensor, or strings).
Result<NamedValues> trial_inputs(const Graph& g, const std::vector<OptimizationProfile>& profiles, uint32_t seed,
                                 size_t profile = 0);

}  // namespace kiln
