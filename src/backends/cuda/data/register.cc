// CUDA kernels of the data family: one line per kernel.
#include "backends/cuda/data/data_kernels.h"

namespace kiln::cuda {

void register_data_kernels(CudaKernelRegistry& r) {
  r.add(OpKind::kIdentity, {run_identity, supports_device_tensor});
  r.add(OpKind::kReshape, {run_reshape, supports_device_tensor});
  r.add(OpKind::kFlatten, {run_flatten, supports_device_tensor});
  r.add(OpKind::kSqueeze, {run_squeeze, supports_device_tensor});
  r.add(OpKind::kUnsqueeze, {run_unsqueeze, supports_device_tensor});
  r.add(OpKind::kTranspose, {run_transpose, supports_transpose});
  r.add(OpKind::kDepthToSpace, {run_pixel_shuffle, supports_movable});
  r.add(OpKind::kSpaceToDepth, {run_pixel_shuffle, supports_movable});
  r.add(OpKind::kConcat, {run_concat, supports_movable});
  r.add(OpKind::kSplit, {run_split, supports_movable});
  r.add(OpKind::kSlice, {run_slice, supports_movable});
  r.add(OpKind::kExpand, {run_expand, supports_movable});
  r.add(OpKind::kTile, {run_tile, supports_movable});
  r.add(OpKind::kGather, {run_gather, supports_movable});
  r.add(OpKind::kGatherElements, {run_gather_elements, supports_movable});
  r.add(OpKind::kGatherND, {run_gather_nd, supports_movable});
  r.add(OpKind::kScatterElements, {run_scatter_elements, supports_scatter});
  r.add(OpKind::kScatterND, {run_scatter_nd, supports_scatter});
  r.add(OpKind::kPad, {run_pad, supports_pad});
  r.add(OpKind::kResize, {run_resize, supports_resize});
  r.add(OpKind::kConstantOfShape, {run_constant_of_shape, supports_constant_of_shape});
  r.add(OpKind::kRange, {run_range, supports_range});
  r.add(OpKind::kTrilu, {run_trilu, supports_movable});
  r.add(OpKind::kEyeLike, {run_eye_like, supports_eye_like});
  r.add(OpKind::kOneHot, {run_one_hot, supports_one_hot});
  r.add(OpKind::kCumSum, {run_cumsum, supports_cumsum});
}

}  // namespace kiln::cuda
