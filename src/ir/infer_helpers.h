// Building blocks shared by the per-family shape inference functions.
#pragma once
#include "ir/shape_inference.h"

namespace kiln {

// Output i gets the type (dtype and shape) of input j.
Status infer_same_as_input(InferContext& ctx, size_t out = 0, size_t in = 0);
// Numpy-style multidirectional broadcast of two shapes; error if incompatible known dims.
Status broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// Normalizes a possibly negative axis against rank; false if out of range.
bool normalize_axis(int64_t axis, int64_t rank, int64_t* out);
// Reads an int64/int32 constant input as a vector; false if the input is not a known constant.
bool constant_ints(const InferContext& ctx, size_t in, std::vector<int64_t>* out);

}  // namespace kiln
