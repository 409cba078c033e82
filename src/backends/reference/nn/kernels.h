// Declarations of the nn family's reference kernels (defined across the files of this folder).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln {
namespace nn {

Status conv(KernelContext& ctx);
Status conv_integer(KernelContext& ctx);
Status qlinear_conv(KernelContext& ctx);
Status conv_transpose(KernelContext& ctx);
Status col2im(KernelContext& ctx);
Status deform_conv(KernelContext& ctx);
Status average_pool(KernelContext& ctx);
Status max_pool(KernelContext& ctx);
Status lp_pool(KernelContext& ctx);
Status global_average_pool(KernelContext& ctx);
Status global_max_pool(KernelContext& ctx);
Status global_lp_pool(KernelContext& ctx);
Status qlinear_global_average_pool(KernelContext& ctx);  // qlinear_pool.cc
Status roi_align(KernelContext& ctx);
Status max_roi_pool(KernelContext& ctx);
Status max_unpool(KernelContext& ctx);
Status non_max_suppression(KernelContext& ctx);
Status batch_normalization(KernelContext& ctx);
Status instance_normalization(KernelContext& ctx);
Status layer_normalization(KernelContext& ctx);
Status rms_normalization(KernelContext& ctx);
Status group_normalization(KernelContext& ctx);
Status mean_variance_normalization(KernelContext& ctx);
Status lrn(KernelContext& ctx);
Status lp_normalization(KernelContext& ctx);
Status resize(KernelContext& ctx);
Status grid_sample(KernelContext& ctx);
Status affine_grid(KernelContext& ctx);

}  // namespace nn
}  // namespace kiln
