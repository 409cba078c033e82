// Declarations of the tensor-family reference kernels (registered in register.cc).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln {

// reshape.cc
Status reshape_kernel(KernelContext& ctx);
Status squeeze_kernel(KernelContext& ctx);
Status unsqueeze_kernel(KernelContext& ctx);
Status flatten_kernel(KernelContext& ctx);
Status identity_kernel(KernelContext& ctx);
Status shape_kernel(KernelContext& ctx);
Status size_kernel(KernelContext& ctx);
Status dropout_kernel(KernelContext& ctx);
// layout.cc
Status transpose_kernel(KernelContext& ctx);
Status depth_to_space_kernel(KernelContext& ctx);
Status space_to_depth_kernel(KernelContext& ctx);
Status trilu_kernel(KernelContext& ctx);
Status eye_like_kernel(KernelContext& ctx);
Status reverse_sequence_kernel(KernelContext& ctx);
// concat_slice.cc
Status concat_kernel(KernelContext& ctx);
Status split_kernel(KernelContext& ctx);
Status slice_kernel(KernelContext& ctx);
// pad.cc
Status pad_kernel(KernelContext& ctx);
Status expand_kernel(KernelContext& ctx);
Status tile_kernel(KernelContext& ctx);
Status center_crop_pad_kernel(KernelContext& ctx);
// gather.cc
Status gather_kernel(KernelContext& ctx);
Status gather_elements_kernel(KernelContext& ctx);
Status gather_nd_kernel(KernelContext& ctx);
Status compress_kernel(KernelContext& ctx);
Status non_zero_kernel(KernelContext& ctx);
// scatter.cc
Status scatter_elements_kernel(KernelContext& ctx);
Status scatter_nd_kernel(KernelContext& ctx);
Status tensor_scatter_kernel(KernelContext& ctx);
// generate.cc
Status constant_of_shape_kernel(KernelContext& ctx);
Status range_kernel(KernelContext& ctx);
Status one_hot_kernel(KernelContext& ctx);
Status cum_sum_kernel(KernelContext& ctx);
// sort.cc
Status top_k_kernel(KernelContext& ctx);
Status arg_max_kernel(KernelContext& ctx);
Status arg_min_kernel(KernelContext& ctx);
Status unique_kernel(KernelContext& ctx);

}  // namespace kiln
