// Attributes of the normalizations (BatchNormalization, InstanceNormalization, LayerNormalization, RMSNormalization,
// GroupNormalization, and Kiln's FusedAddLayerNorm) parsed and checked once: shared by shape inference, the fusion
// passes and every backend, so defaults and opset rules are written once. Errors are invalid_argument without a node
// prefix (callers add theirs) and name the attribute.
#pragma once
#include <cstdint>

#include "ir/graph.h"
#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

// BatchNormalization: epsilon (default 1e-5), momentum (default 0.9) and training_mode (opset 14+, 0 or 1, default 0).
// The importer drops the older is_test / consumed_inputs / spatial attributes (spatial=0's per-element parameters are
// recognized by their size).
struct BatchNormParams {
  float epsilon = 1e-5f;
  float momentum = 0.9f;
  bool training_mode = false;
};
Result<BatchNormParams> batch_norm_params(const Attrs& a);

// InstanceNormalization: epsilon (default 1e-5).
struct InstanceNormParams {
  float epsilon = 1e-5f;
};
Result<InstanceNormParams> instance_norm_params(const Attrs& a);

// LayerNormalization, RMSNormalization and FusedAddLayerNorm: normalized over X.shape[axis:]. axis defaults to -1,
// epsilon to 1e-5; stash_type (default 1, float32) is the dtype of LayerNormalization's Mean / InvStdDev outputs and
// must be a floating-point type (float16, float, double, bfloat16).
struct LayerNormParams {
  int64_t axis = -1;  // as written; see layer_norm_axis
  float epsilon = 1e-5f;
  DType stash_type = DType::kFloat32;
};
Result<LayerNormParams> layer_norm_params(const Attrs& a);
// The first normalized axis for an input of `rank`, in [0, rank); invalid_argument naming axis when out of range.
Result<int64_t> layer_norm_axis(const LayerNormParams& p, int64_t rank);

// GroupNormalization: num_groups (required, positive), epsilon (default 1e-5), stash_type (opset 21; float32 unless
// set). Scale and bias hold one value per channel from opset 21 and one per group before (an opset-18 node whose
// parameters already have C elements is read per channel too).
struct GroupNormParams {
  int64_t num_groups = 0;
  float epsilon = 1e-5f;
  DType stash_type = DType::kFloat32;
  bool per_channel_always = false;  // opset >= 21
  // Whether scale/bias of `param_elems` elements are per channel for `channels` channels.
  bool per_channel(int64_t channels, int64_t param_elems) const {
    return per_channel_always || param_elems == channels;
  }
};
Result<GroupNormParams> group_norm_params(const Node& node);
// invalid_argument naming num_groups unless it divides `channels`.
Status check_group_norm_channels(const GroupNormParams& p, int64_t channels);

}  // namespace kiln
