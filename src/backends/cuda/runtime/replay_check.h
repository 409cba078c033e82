// Checking a freshly captured CUDA graph against a plain run of the same inputs: a kernel whose captured form
// computes something else (a capture-unsafe library engine) must cost speed, never a wrong answer.
#pragma once
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::cuda {

// False when KILN_CUDA_GRAPH_VERIFY=0 (the check costs one extra plain run per newly captured input shape).
bool replay_check_enabled();

// "" when `replayed` and `plain` agree; else what differs ("output 2 'logits': relative L2 difference 0.17").
// Floating-point outputs agree when ||replayed - plain|| <= 1e-3 * ||plain|| and their NaNs sit in the same places
// (kernels may accumulate in another order between runs); other dtypes must be equal byte for byte.
std::string first_difference(const std::vector<Tensor>& replayed, const std::vector<Tensor>& plain,
                             const std::vector<std::string>& names);

}  // namespace kiln::cuda
