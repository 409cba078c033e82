// Import normalizers for the nn family (older opset forms -> canonical form):
// Upsample (opset 7 scales attribute / opset 9 input) and Resize-10 become Resize with [X, "", scales] inputs,
// asymmetric coordinates and floor rounding; LpPool-1's float p becomes an int; BatchNormalization drops the
// pre-opset-9 consumed_inputs/spatial/is_test attributes; RoiAlign-10 keeps its output_half_pixel coordinates;
// GridSample-16 mode names bilinear/bicubic become linear/cubic. GroupNormalization-18 (per-group scale/bias)
// is told apart from opset 21 (per-channel) in the kernel by node.opset and the parameter sizes.
#include <variant>

#include "onnx/ops/normalize.h"

namespace kiln {
namespace {

// Rewrites the node into Resize-19 form, with the pre-11 coordinate conventions.
void to_resize_asymmetric(NormalizeContext& ctx) {
  Node& n = ctx.node;
  std::string mode = n.attrs.get_string("mode", "nearest");
  if (mode == "bilinear" || mode == "trilinear") mode = "linear";
  n.attrs.set("mode", mode);
  n.attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
  n.attrs.set("nearest_mode", std::string("floor"));
  n.op = OpKind::kResize;
}

Status norm_upsample(NormalizeContext& ctx) {
  Node& n = ctx.node;
  if (n.attrs.has("scales")) {
    std::vector<float> s = n.attrs.get_floats("scales");
    n.attrs.erase("scales");
    n.inputs.resize(1);
    ctx.set_const_input(2, Tensor::from_vector<float>(DType::kFloat32, {static_cast<int64_t>(s.size())}, s));
  } else if (n.has_input(1)) {
    std::string scales = n.inputs[1];
    n.inputs = {n.inputs[0], "", scales};
  } else if (!n.attrs.has("height_scale")) {
    return ctx.error("Upsample needs scales (attribute before opset 9, input from opset 9)");
  } else {
    // Opset 1 form: height_scale/width_scale on a 4-D NCHW input.
    std::vector<float> s = {1.f, 1.f, n.attrs.get_float("height_scale", 1.f), n.attrs.get_float("width_scale", 1.f)};
    n.attrs.erase("height_scale");
    n.attrs.erase("width_scale");
    n.inputs.resize(1);
    ctx.set_const_input(2, Tensor::from_vector<float>(DType::kFloat32, {4}, s));
  }
  to_resize_asymmetric(ctx);
  return ok_status();
}

Status norm_resize(NormalizeContext& ctx) {
  if (ctx.opset >= 11) return ok_status();
  Node& n = ctx.node;
  if (n.has_input(1)) {
    std::string scales = n.inputs[1];
    n.inputs = {n.inputs[0], "", scales};
  }
  to_resize_asymmetric(ctx);
  return ok_status();
}

Status norm_lp_pool(NormalizeContext& ctx) {
  const auto& all = ctx.node.attrs.all();
  auto it = all.find("p");
  if (it != all.end() && std::holds_alternative<float>(it->second))
    ctx.node.attrs.set("p", static_cast<int64_t>(std::get<float>(it->second)));
  return ok_status();
}

Status norm_batch_norm(NormalizeContext& ctx) {
  if (ctx.opset >= 9) return ok_status();
  ctx.node.attrs.erase("consumed_inputs");
  ctx.node.attrs.erase("is_test");
  ctx.node.attrs.erase("spatial");  // spatial=0 (per-element stats) is recognized by parameter size in the kernel
  return ok_status();
}

Status norm_roi_align(NormalizeContext& ctx) {
  if (ctx.opset < 16 && !ctx.node.attrs.has("coordinate_transformation_mode"))
    ctx.node.attrs.set("coordinate_transformation_mode", std::string("output_half_pixel"));
  return ok_status();
}

Status norm_grid_sample(NormalizeContext& ctx) {
  std::string mode = ctx.node.attrs.get_string("mode", "linear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  ctx.node.attrs.set("mode", mode);
  return ok_status();
}

Status norm_consumed_inputs(NormalizeContext& ctx) {
  ctx.node.attrs.erase("consumed_inputs");
  return ok_status();
}

}  // namespace

void register_nn_normalizers(NormalizeRegistry& r) {
  r.add(OpKind::kUpsample, norm_upsample);
  r.add(OpKind::kResize, norm_resize);
  r.add(OpKind::kLpPool, norm_lp_pool);
  r.add(OpKind::kBatchNormalization, norm_batch_norm);
  r.add(OpKind::kRoiAlign, norm_roi_align);
  r.add(OpKind::kGridSample, norm_grid_sample);
  r.add(OpKind::kInstanceNormalization, norm_consumed_inputs);
}

}  // namespace kiln
