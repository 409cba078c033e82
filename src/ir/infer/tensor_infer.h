// Shape/type inference functions of the tensor family and the helpers they share.
#pragma once
#include <vector>

#include "ir/infer_helpers.h"

namespace kiln {

// Output i is a tensor of `dt` with unknown rank.
inline void set_unknown(InferContext& ctx, size_t i, DType dt) { ctx.set_output_type(i, TypeInfo::tensor_unknown_shape(dt)); }
// Product of two dims when both are known; unknown otherwise (x1 keeps the other's symbol).
Dim mul_dim(const Dim& a, int64_t k);
// When every present input is a build-time constant and every output type is small and fully known,
// evaluates the node with its reference kernel and records the results as constant values.
void fold_if_constant(InferContext& ctx);

// tensor.cc (shape-valued and reshaping ops)
Status infer_reshape(InferContext& ctx);
Status infer_squeeze(InferContext& ctx);
Status infer_unsqueeze(InferContext& ctx);
Status infer_flatten(InferContext& ctx);
Status infer_identity(InferContext& ctx);
Status infer_shape(InferContext& ctx);
Status infer_size(InferContext& ctx);
Status infer_constant_of_shape(InferContext& ctx);
Status infer_range(InferContext& ctx);
Status infer_concat(InferContext& ctx);
Status infer_slice(InferContext& ctx);
Status infer_gather(InferContext& ctx);
Status infer_split(InferContext& ctx);
// tensor_layout.cc
Status infer_transpose(InferContext& ctx);
Status infer_depth_to_space(InferContext& ctx);
Status infer_space_to_depth(InferContext& ctx);
Status infer_same_shape(InferContext& ctx);
Status infer_eye_like(InferContext& ctx);
Status infer_dropout(InferContext& ctx);
Status infer_pad(InferContext& ctx);
Status infer_expand(InferContext& ctx);
Status infer_tile(InferContext& ctx);
Status infer_center_crop_pad(InferContext& ctx);
Status infer_gather_elements(InferContext& ctx);
Status infer_gather_nd(InferContext& ctx);
Status infer_compress(InferContext& ctx);
Status infer_non_zero(InferContext& ctx);
Status infer_one_hot(InferContext& ctx);
Status infer_top_k(InferContext& ctx);
Status infer_arg_reduce(InferContext& ctx);
Status infer_unique(InferContext& ctx);

}  // namespace kiln
