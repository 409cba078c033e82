// Import normalizers for the elementwise_binary family (older opset forms -> canonical form).
// Opset<7 binary ops carried `broadcast`/`axis` attributes; opset<6 ones a `consumed_inputs` attribute.
#include "onnx/ops/normalize.h"

namespace kiln {

namespace {

// The rank of a value if known at import time (initializer or typed graph input), else -1.
int64_t known_rank(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  if (it != g.initializers.end()) return static_cast<int64_t>(it->second.rank());
  const TypeInfo* t = g.type_of(name);
  if (t && t->is_tensor() && t->shape.rank_known) return static_cast<int64_t>(t->shape.rank());
  return -1;
}

// Add/Sub/Mul/Div/Pow/And/Or/Xor/Equal/Greater/Less before opset 7: with broadcast=1 and `axis`, B's dims
// are aligned with A's at `axis`. When B is an initializer and A's rank is known, B is replaced by a reshaped
// constant with trailing 1s so that numpy broadcasting applies; otherwise the kernel handles `axis`.
Status norm_legacy_broadcast(NormalizeContext& ctx) {
  Node& n = ctx.node;
  n.attrs.erase("consumed_inputs");
  if (ctx.opset >= 7) return ok_status();
  if (n.inputs.size() != 2) return ctx.error("expects 2 inputs, got " + std::to_string(n.inputs.size()));
  if (n.attrs.get_int("broadcast", 0) == 0) {
    n.attrs.erase("broadcast");
    n.attrs.erase("axis");
    return ok_status();
  }
  if (!n.attrs.has("axis")) {
    // Suffix alignment is exactly numpy broadcasting.
    n.attrs.erase("broadcast");
    return ok_status();
  }
  auto b_it = ctx.graph.initializers.find(n.inputs[1]);
  const int64_t ra = known_rank(ctx.graph, n.inputs[0]);
  if (b_it == ctx.graph.initializers.end() || ra < 0) return ok_status();  // left to the kernel
  const Tensor b = b_it->second;
  const int64_t rb = static_cast<int64_t>(b.rank());
  int64_t axis = n.attrs.get_int("axis");
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra)
    return ctx.error("legacy broadcast axis " + std::to_string(n.attrs.get_int("axis")) + " does not fit B of rank " +
                     std::to_string(rb) + " into A of rank " + std::to_string(ra));
  Dims d = b.dims();
  for (int64_t i = axis + rb; i < ra; ++i) d.push_back(1);
  ctx.set_const_input(1, b.reshaped(d));
  n.attrs.erase("broadcast");
  n.attrs.erase("axis");
  return ok_status();
}

// Max/Min/Sum/Mean before opset 6: drop `consumed_inputs`.
Status norm_variadic(NormalizeContext& ctx) {
  ctx.node.attrs.erase("consumed_inputs");
  return ok_status();
}

// PRelu before opset 7: a 1-D slope initializer of X's channel count is per-channel (axis 1).
Status norm_prelu(NormalizeContext& ctx) {
  Node& n = ctx.node;
  n.attrs.erase("consumed_inputs");
  if (ctx.opset >= 7 || n.inputs.size() != 2) return ok_status();
  auto s_it = ctx.graph.initializers.find(n.inputs[1]);
  const TypeInfo* xt = ctx.graph.type_of(n.inputs[0]);
  if (s_it == ctx.graph.initializers.end() || !xt || !xt->is_tensor() || !xt->shape.rank_known) return ok_status();
  const Tensor slope = s_it->second;
  const Shape& xs = xt->shape;
  if (slope.rank() != 1 || xs.rank() < 2 || slope.dim(0) == 1) return ok_status();
  if (!xs.dims[1].is_known() || xs.dims[1].value != slope.dim(0)) return ok_status();
  Dims d(xs.rank() - 1, 1);
  d[0] = slope.dim(0);
  ctx.set_const_input(1, slope.reshaped(d));
  return ok_status();
}

}  // namespace

void register_elementwise_binary_normalizers(NormalizeRegistry& r) {
  for (OpKind k : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kPow, OpKind::kAnd, OpKind::kOr,
                   OpKind::kXor, OpKind::kEqual, OpKind::kGreater, OpKind::kLess})
    r.add(k, norm_legacy_broadcast);
  for (OpKind k : {OpKind::kMax, OpKind::kMin, OpKind::kSum, OpKind::kMean}) r.add(k, norm_variadic);
  r.add(OpKind::kPRelu, norm_prelu);
}

}  // namespace kiln
