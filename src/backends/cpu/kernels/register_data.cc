// Registers the hand-written data-movement CPU kernels (copies, gathers, scatters, casts, selects, aliasing reshapes)
// the indexed-access ones (TopK, CumSum, Trilu) and the region ones (NonMaxSuppression, RoiAlign).
#include "backends/cpu/kernels/data.h"
#include "backends/cpu/kernels/index_ops.h"
#include "backends/cpu/kernels/region_ops.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_data_kernels(CpuKernelRegistry& r) {
  using namespace kern;
  r.add(OpKind::kTranspose, {"transpose", data_supports, transpose_run});
  r.add(OpKind::kDepthToSpace, {"depth_to_space", data_supports, pixel_shuffle_run});
  r.add(OpKind::kSpaceToDepth, {"space_to_depth", data_supports, pixel_shuffle_run});
  r.add(OpKind::kGridSample, {"grid_sample", grid_sample_supports, grid_sample_run});
  r.add(OpKind::kSlice, {"slice", data_supports, slice_run});
  r.add(OpKind::kExpand, {"expand", data_supports, expand_run});
  r.add(OpKind::kTile, {"tile", data_supports, tile_run});
  r.add(OpKind::kConcat, {"concat", concat_supports, concat_run, /*takes_handoffs=*/true});
  r.add(OpKind::kSplit, {"split", data_supports, split_run});
  r.add(OpKind::kGather, {"gather", data_supports, gather_run});
  r.add(OpKind::kCast, {"cast", cast_supports, cast_run});
  r.add(OpKind::kCastLike, {"cast", cast_supports, cast_run});
  r.add(OpKind::kWhere, {"where", where_supports, where_run});
  r.add(OpKind::kReshape, {"alias_reshape", alias_supports, reshape_run});
  r.add(OpKind::kFlatten, {"alias_flatten", alias_supports, flatten_run});
  r.add(OpKind::kSqueeze, {"alias_squeeze", alias_supports, squeeze_run});
  r.add(OpKind::kUnsqueeze, {"alias_unsqueeze", alias_supports, unsqueeze_run});
  r.add(OpKind::kIdentity, {"alias_identity", alias_supports, identity_run});
  r.add(OpKind::kShape, {"shape", shape_supports, shape_run});
  r.add(OpKind::kSize, {"shape", shape_supports, shape_run});
  r.add(OpKind::kPad, {"pad", pad_supports, pad_run});
  r.add(OpKind::kResize, {"resize", resize_supports, resize_run, /*takes_handoffs=*/true});
  r.add(OpKind::kGatherElements, {"gather_elements", gather_elements_supports, gather_elements_run});
  r.add(OpKind::kGatherND, {"gather_nd", gather_nd_supports, gather_nd_run});
  r.add(OpKind::kScatterElements, {"scatter_elements", scatter_supports, scatter_elements_run});
  r.add(OpKind::kScatter, {"scatter_elements", scatter_supports, scatter_elements_run});
  r.add(OpKind::kScatterND, {"scatter_nd", scatter_supports, scatter_nd_run});
  r.add(OpKind::kTopK, {"top_k", top_k_supports, top_k_run});
  r.add(OpKind::kCumSum, {"cum_sum", cum_sum_supports, cum_sum_run});
  r.add(OpKind::kTrilu, {"trilu", trilu_supports, trilu_run});
  r.add(OpKind::kNonZero, {"non_zero", non_zero_supports, non_zero_run});
  r.add(OpKind::kNonMaxSuppression, {"non_max_suppression", nms_supports, nms_run});
  r.add(OpKind::kRoiAlign, {"roi_align", roi_align_supports, roi_align_run});
}

}  // namespace kiln::cpu
