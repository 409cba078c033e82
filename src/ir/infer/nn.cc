// Shape and type inference for the nn family: registration (the functions live in nn_window.cc and nn_misc.cc).
#include "ir/infer/nn_infer.h"

namespace kiln {

void register_nn_infer(InferRegistry& r) {
  using namespace nn_infer;  // NOLINT
  r.add(OpKind::kConv, infer_conv);
  r.add(OpKind::kConvInteger, infer_conv_integer);
  r.add(OpKind::kQLinearConv, infer_qlinear_conv);
  r.add(OpKind::kDeformConv, infer_deform_conv);
  r.add(OpKind::kConvTranspose, infer_conv_transpose);
  for (OpKind op : {OpKind::kAveragePool, OpKind::kMaxPool, OpKind::kLpPool}) r.add(op, infer_pool);
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool, OpKind::kGlobalLpPool}) r.add(op, infer_global_pool);
  r.add(OpKind::kMaxUnpool, infer_max_unpool);
  r.add(OpKind::kCol2Im, infer_col2im);
  r.add(OpKind::kRoiAlign, infer_roi_align);
  r.add(OpKind::kMaxRoiPool, infer_max_roi_pool);
  r.add(OpKind::kNonMaxSuppression, infer_nms);
  r.add(OpKind::kBatchNormalization, infer_batch_norm);
  r.add(OpKind::kLayerNormalization, infer_layer_norm);
  for (OpKind op : {OpKind::kInstanceNormalization, OpKind::kGroupNormalization, OpKind::kRMSNormalization,
                    OpKind::kMeanVarianceNormalization, OpKind::kLRN, OpKind::kLpNormalization})
    r.add(op, infer_same_float);
  r.add(OpKind::kResize, infer_resize);
  r.add(OpKind::kUpsample, infer_resize);
  r.add(OpKind::kGridSample, infer_grid_sample);
  r.add(OpKind::kAffineGrid, infer_affine_grid);
}

}  // namespace kiln
