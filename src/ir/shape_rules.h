// Shape rules shared by every backend's kernels (one definition of each op's output-shape arithmetic).
#pragma once
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Reshape's output dims for input dims `in` and the `shape` input: 0 copies the input dim (unless allowzero),
// one -1 is inferred. invalid_argument (without a node prefix: callers add theirs) when the shape is invalid.
Result<Dims> reshape_output_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero);

// One axis of ONNX Slice: the first index read and how many elements, for an axis of extent `dim` (>= 0). `start` and
// `end` may be negative (counted from the end) or out of range (clamped: to [0, dim] for step > 0, to [0, dim - 1]
// and [-1, dim - 1] for step < 0); `step` must be nonzero. An empty axis (dim == 0) always gives count 0.
struct SliceRange {
  int64_t first = 0;
  int64_t count = 0;
};
SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim);

// GatherElements / ScatterElements: `indices` has data's rank (>= 1) and is no larger than data on every axis but
// `axis` (already normalized). invalid_argument (without a node prefix) naming both shapes otherwise.
Status check_element_indices(const Dims& data, const Dims& indices, int64_t axis);

// ScatterND's updates shape, indices.shape[:-1] + data.shape[indices.shape[-1]:]; invalid_argument (without a node
// prefix) when either rank is 0 or the indices' last dim exceeds data's rank.
Result<Dims> scatter_nd_updates_dims(const Dims& data, const Dims& indices);

}  // namespace kiln
