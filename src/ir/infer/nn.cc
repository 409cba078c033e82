// Shape and type inference for the nn family: registration (the functions live in nn_window.cc and nn_misc.cc).
#include "ir/infer/nn_infer.h"

namespace kiln {

namespace {

// QLinearGlobalAveragePool (com.microsoft): X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last 0 only.
Status infer_qlinear_global_average_pool(InferContext& ctx) {
  if (ctx.num_inputs() < 5 || !ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(3))
    return ctx.error("needs X, x_scale, x_zero_point, y_scale and y_zero_point");
  if (ctx.attrs().get_int("channels_last", 0) != 0) return ctx.error("channels_last=1 is not supported");
  const DType t = ctx.input_type(0).dtype;
  if (t != DType::kUndefined && t != DType::kUInt8 && t != DType::kInt8)
    return ctx.error(std::string("X must be uint8 or int8; got ") + dtype_name(t));
  return nn_infer::infer_global_pool(ctx);
}

}  // namespace

void register_nn_infer(InferRegistry& r) {
  using namespace nn_infer;  // NOLINT
  r.add(OpKind::kConv, infer_conv);
  r.add(OpKind::kConvInteger, infer_conv_integer);
  r.add(OpKind::kQLinearConv, infer_qlinear_conv);
  r.add(OpKind::kFusedQLinearConv, infer_qlinear_conv);  // Y as QLinearConv's; R has Y's shape (docs/fused-ops.md)
  r.add(OpKind::kDeformConv, infer_deform_conv);
  r.add(OpKind::kConvTranspose, infer_conv_transpose);
  for (OpKind op : {OpKind::kAveragePool, OpKind::kMaxPool, OpKind::kLpPool}) r.add(op, infer_pool);
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool, OpKind::kGlobalLpPool}) r.add(op, infer_global_pool);
  r.add(OpKind::kQLinearGlobalAveragePool, infer_qlinear_global_average_pool);
  r.add(OpKind::kMaxUnpool, infer_max_unpool);
  r.add(OpKind::kCol2Im, infer_col2im);
  r.add(OpKind::kRoiAlign, infer_roi_align);
  r.add(OpKind::kMaxRoiPool, infer_max_roi_pool);
  r.add(OpKind::kNonMaxSuppression, infer_nms);
  r.add(OpKind::kBatchNormalization, infer_batch_norm);
  r.add(OpKind::kLayerNormalization, infer_layer_norm);
  r.add(OpKind::kRMSNormalization, infer_layer_norm);
  r.add(OpKind::kGroupNormalization, infer_group_norm);
  for (OpKind op :
       {OpKind::kInstanceNormalization, OpKind::kMeanVarianceNormalization, OpKind::kLRN, OpKind::kLpNormalization})
    r.add(op, infer_same_float);
  r.add(OpKind::kResize, infer_resize);
  r.add(OpKind::kUpsample, infer_resize);
  r.add(OpKind::kGridSample, infer_grid_sample);
  r.add(OpKind::kAffineGrid, infer_affine_grid);
}

}  // namespace kiln
