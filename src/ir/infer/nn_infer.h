// Declarations of the nn family's shape inference functions (defined in nn_*.cc, registered in nn.cc).
#pragma once
#include "ir/infer_helpers.h"

namespace kiln::nn_infer {

using Dims = std::vector<int64_t>;

Status infer_conv(InferContext& ctx);
Status infer_conv_integer(InferContext& ctx);
Status infer_qlinear_conv(InferContext& ctx);
Status infer_deform_conv(InferContext& ctx);
Status infer_conv_transpose(InferContext& ctx);
Status infer_pool(InferContext& ctx);
Status infer_global_pool(InferContext& ctx);
Status infer_max_unpool(InferContext& ctx);
Status infer_col2im(InferContext& ctx);
Status infer_roi_align(InferContext& ctx);
Status infer_max_roi_pool(InferContext& ctx);
Status infer_nms(InferContext& ctx);
Status infer_batch_norm(InferContext& ctx);
Status infer_layer_norm(InferContext& ctx);  // LayerNormalization and RMSNormalization
Status infer_group_norm(InferContext& ctx);
Status infer_same_float(InferContext& ctx);
Status infer_resize(InferContext& ctx);
Status infer_grid_sample(InferContext& ctx);
Status infer_affine_grid(InferContext& ctx);

}  // namespace kiln::nn_infer
