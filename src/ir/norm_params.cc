// Typed parameters of the normalizations (see norm_params.h).
#include "ir/norm_params.h"

#include <string>

namespace kiln {
namespace {

Result<DType> stash_type(const Attrs& a) {
  const int64_t v = a.get_int("stash_type", 1);
  DType t = DType::kUndefined;
  if (!dtype_from_int(v, &t) ||
      (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16 && t != DType::kBFloat16))
    return invalid_argument("stash_type " + std::to_string(v) +
                            " is not a floating-point type (float16, float, double or bfloat16)");
  return t;
}

float epsilon(const Attrs& a) { return a.get_float("epsilon", 1e-5f); }

}  // namespace

Result<BatchNormParams> batch_norm_params(const Attrs& a) {
  BatchNormParams p;
  p.epsilon = epsilon(a);
  p.momentum = a.get_float("momentum", 0.9f);
  const int64_t t = a.get_int("training_mode", 0);
  if (t != 0 && t != 1) return invalid_argument("training_mode must be 0 or 1; got " + std::to_string(t));
  p.training_mode = t == 1;
  return p;
}

Result<InstanceNormParams> instance_norm_params(const Attrs& a) {
  InstanceNormParams p;
  p.epsilon = epsilon(a);
  return p;
}

Result<LayerNormParams> layer_norm_params(const Attrs& a) {
  LayerNormParams p;
  p.axis = a.get_int("axis", -1);
  p.epsilon = epsilon(a);
  KILN_ASSIGN_OR_RETURN(p.stash_type, stash_type(a));
  return p;
}

Result<int64_t> layer_norm_axis(const LayerNormParams& p, int64_t rank) {
  if (p.axis < -rank || p.axis >= rank)
    return invalid_argument("axis " + std::to_string(p.axis) + " is out of range for rank " + std::to_string(rank));
  return p.axis < 0 ? p.axis + rank : p.axis;
}

Result<GroupNormParams> group_norm_params(const Node& node) {
  GroupNormParams p;
  if (!node.attrs.has("num_groups")) return invalid_argument("num_groups is required");
  p.num_groups = node.attrs.get_int("num_groups", 0);
  if (p.num_groups <= 0) return invalid_argument("num_groups must be positive; got " + std::to_string(p.num_groups));
  p.epsilon = epsilon(node.attrs);
  KILN_ASSIGN_OR_RETURN(p.stash_type, stash_type(node.attrs));
  p.per_channel_always = node.opset >= 21;
  return p;
}

Status check_group_norm_channels(const GroupNormParams& p, int64_t channels) {
  if (channels % p.num_groups != 0)
    return invalid_argument("num_groups " + std::to_string(p.num_groups) + " must divide the channel count " +
                            std::to_string(channels));
  return ok_status();
}

}  // namespace kiln
