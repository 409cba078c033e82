// Shape rules shared by every backend's kernels (one definition of each op's output-shape arithmetic).
#pragma once
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Reshape's output dims for input dims `in` and the `shape` input: 0 copies the input dim (unless allowzero),
// one -1 is inferred. invalid_argument (without a node prefix: callers add theirs) when the shape is invalid.
Result<Dims> reshape_output_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero);

}  // namespace kiln
