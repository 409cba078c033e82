// Import normalizers for the tensor family (older opset forms -> canonical form).
#include "onnx/ops/normalize.h"

namespace kiln {

namespace {

Tensor int64_vector(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

// Moves INTS attribute `name` to constant input `index` (if present) and erases it.
void ints_attr_to_input(NormalizeContext& ctx, const char* name, size_t index) {
  if (!ctx.node.attrs.has(name)) return;
  ctx.set_const_input(index, int64_vector(ctx.node.attrs.get_ints(name)));
  ctx.node.attrs.erase(name);
}

// Reshape-1: shape attribute -> input 1.
Status norm_reshape(NormalizeContext& ctx) {
  if (ctx.opset < 5 && !ctx.node.has_input(1)) {
    if (!ctx.node.attrs.has("shape")) return ctx.error("Reshape-1 needs a 'shape' attribute");
    ints_attr_to_input(ctx, "shape", 1);
  }
  ctx.node.attrs.erase("consumed_inputs");
  return ok_status();
}

// Slice-1: starts/ends/axes attributes -> inputs 1..3.
Status norm_slice(NormalizeContext& ctx) {
  if (ctx.opset >= 10) return ok_status();
  if (!ctx.node.attrs.has("starts") || !ctx.node.attrs.has("ends"))
    return ctx.error("Slice-1 needs 'starts' and 'ends' attributes");
  ints_attr_to_input(ctx, "starts", 1);
  ints_attr_to_input(ctx, "ends", 2);
  ints_attr_to_input(ctx, "axes", 3);
  return ok_status();
}

// Squeeze/Unsqueeze before 13: axes attribute -> input 1.
Status norm_axes_attr(NormalizeContext& ctx) {
  if (ctx.opset < 13) ints_attr_to_input(ctx, "axes", 1);
  return ok_status();
}

// Split before 13: split attribute -> input 1.
Status norm_split(NormalizeContext& ctx) {
  if (ctx.opset < 13) ints_attr_to_input(ctx, "split", 1);
  return ok_status();
}

// Pad before 11: pads (Pad-2) or paddings (Pad-1) attribute -> input 1; the float 'value' attribute stays
// (the kernel reads it when there is no constant_value input, converting it to the data's dtype).
Status norm_pad(NormalizeContext& ctx) {
  if (ctx.opset >= 11) return ok_status();
  const char* name = ctx.node.attrs.has("pads") ? "pads" : "paddings";
  if (!ctx.node.attrs.has(name)) return ctx.error("Pad before opset 11 needs a 'pads' attribute");
  ints_attr_to_input(ctx, name, 1);
  if (ctx.node.attrs.get_float("value", 0.f) == 0.f) ctx.node.attrs.erase("value");
  return ok_status();
}

// TopK-1: k attribute -> input 1.
Status norm_top_k(NormalizeContext& ctx) {
  if (ctx.opset < 10) {
    if (!ctx.node.attrs.has("k")) return ctx.error("TopK-1 needs a 'k' attribute");
    ctx.set_const_input(1, int64_vector({ctx.node.attrs.get_int("k")}));
    ctx.node.attrs.erase("k");
  }
  return ok_status();
}

// Dropout before 12: ratio attribute -> input 1.
Status norm_dropout(NormalizeContext& ctx) {
  if (ctx.opset < 12 && ctx.node.attrs.has("ratio")) {
    ctx.set_const_input(1, Tensor::scalar<float>(DType::kFloat32, ctx.node.attrs.get_float("ratio")));
    ctx.node.attrs.erase("ratio");
  }
  ctx.node.attrs.erase("consumed_inputs");
  return ok_status();
}

// Concat-1: axis defaulted to 1.
Status norm_concat(NormalizeContext& ctx) {
  if (ctx.opset < 4 && !ctx.node.attrs.has("axis")) ctx.node.attrs.set("axis", int64_t{1});
  return ok_status();
}

}  // namespace

void register_tensor_normalizers(NormalizeRegistry& r) {
  r.add(OpKind::kReshape, norm_reshape);
  r.add(OpKind::kSlice, norm_slice);
  r.add(OpKind::kSqueeze, norm_axes_attr);
  r.add(OpKind::kUnsqueeze, norm_axes_attr);
  r.add(OpKind::kSplit, norm_split);
  r.add(OpKind::kPad, norm_pad);
  r.add(OpKind::kTopK, norm_top_k);
  r.add(OpKind::kDropout, norm_dropout);
  r.add(OpKind::kConcat, norm_concat);
}

}  // namespace kiln
