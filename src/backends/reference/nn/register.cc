// Reference kernels of the nn family: one line per kernel.
#include "backends/reference/kernel.h"
#include "backends/reference/nn/kernels.h"

namespace kiln {

void register_nn_kernels(KernelRegistry& r) {
  r.add(OpKind::kConv, nn::conv);
  r.add(OpKind::kConvInteger, nn::conv_integer);
  r.add(OpKind::kQLinearConv, nn::qlinear_conv);
  r.add(OpKind::kFusedQLinearConv, nn::qlinear_conv);
  r.add(OpKind::kConvTranspose, nn::conv_transpose);
  r.add(OpKind::kCol2Im, nn::col2im);
  r.add(OpKind::kDeformConv, nn::deform_conv);
  r.add(OpKind::kAveragePool, nn::average_pool);
  r.add(OpKind::kMaxPool, nn::max_pool);
  r.add(OpKind::kLpPool, nn::lp_pool);
  r.add(OpKind::kGlobalAveragePool, nn::global_average_pool);
  r.add(OpKind::kQLinearGlobalAveragePool, nn::qlinear_global_average_pool);
  r.add(OpKind::kGlobalMaxPool, nn::global_max_pool);
  r.add(OpKind::kGlobalLpPool, nn::global_lp_pool);
  r.add(OpKind::kRoiAlign, nn::roi_align);
  r.add(OpKind::kMaxRoiPool, nn::max_roi_pool);
  r.add(OpKind::kMaxUnpool, nn::max_unpool);
  r.add(OpKind::kNonMaxSuppression, nn::non_max_suppression);
  r.add(OpKind::kBatchNormalization, nn::batch_normalization);
  r.add(OpKind::kInstanceNormalization, nn::instance_normalization);
  r.add(OpKind::kLayerNormalization, nn::layer_normalization);
  r.add(OpKind::kRMSNormalization, nn::rms_normalization);
  r.add(OpKind::kGroupNormalization, nn::group_normalization);
  r.add(OpKind::kMeanVarianceNormalization, nn::mean_variance_normalization);
  r.add(OpKind::kLRN, nn::lrn);
  r.add(OpKind::kLpNormalization, nn::lp_normalization);
  r.add(OpKind::kResize, nn::resize);
  r.add(OpKind::kUpsample, nn::resize);  // normalized into Resize form at import
  r.add(OpKind::kGridSample, nn::grid_sample);
  r.add(OpKind::kAffineGrid, nn::affine_grid);
}

}  // namespace kiln
