// Reference kernels of the tensor family: one line per kernel.
#include "backends/reference/kernel.h"
#include "backends/reference/tensor/kernels.h"

namespace kiln {

void register_tensor_kernels(KernelRegistry& r) {
  r.add(OpKind::kReshape, reshape_kernel);
  r.add(OpKind::kSqueeze, squeeze_kernel);
  r.add(OpKind::kUnsqueeze, unsqueeze_kernel);
  r.add(OpKind::kFlatten, flatten_kernel);
  r.add(OpKind::kIdentity, identity_kernel);
  r.add(OpKind::kShape, shape_kernel);
  r.add(OpKind::kSize, size_kernel);
  r.add(OpKind::kDropout, dropout_kernel);
  r.add(OpKind::kTranspose, transpose_kernel);
  r.add(OpKind::kDepthToSpace, depth_to_space_kernel);
  r.add(OpKind::kSpaceToDepth, space_to_depth_kernel);
  r.add(OpKind::kTrilu, trilu_kernel);
  r.add(OpKind::kEyeLike, eye_like_kernel);
  r.add(OpKind::kReverseSequence, reverse_sequence_kernel);
  r.add(OpKind::kConcat, concat_kernel);
  r.add(OpKind::kSplit, split_kernel);
  r.add(OpKind::kSlice, slice_kernel);
  r.add(OpKind::kPad, pad_kernel);
  r.add(OpKind::kExpand, expand_kernel);
  r.add(OpKind::kTile, tile_kernel);
  r.add(OpKind::kCenterCropPad, center_crop_pad_kernel);
  r.add(OpKind::kGather, gather_kernel);
  r.add(OpKind::kGatherElements, gather_elements_kernel);
  r.add(OpKind::kGatherND, gather_nd_kernel);
  r.add(OpKind::kCompress, compress_kernel);
  r.add(OpKind::kNonZero, non_zero_kernel);
  r.add(OpKind::kScatter, scatter_elements_kernel);
  r.add(OpKind::kScatterElements, scatter_elements_kernel);
  r.add(OpKind::kScatterND, scatter_nd_kernel);
  r.add(OpKind::kTensorScatter, tensor_scatter_kernel);
  r.add(OpKind::kConstantOfShape, constant_of_shape_kernel);
  r.add(OpKind::kRange, range_kernel);
  r.add(OpKind::kOneHot, one_hot_kernel);
  r.add(OpKind::kCumSum, cum_sum_kernel);
  r.add(OpKind::kTopK, top_k_kernel);
  r.add(OpKind::kArgMax, arg_max_kernel);
  r.add(OpKind::kArgMin, arg_min_kernel);
  r.add(OpKind::kUnique, unique_kernel);
}

}  // namespace kiln
