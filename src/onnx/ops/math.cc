// Import normalizers for the math family (older opset forms -> canonical form):
// Reduce* axes attribute -> input 1 (ReduceSum before opset 13, the others before 18),
// DFT axis attribute (opset 17..19, default 1) -> input 2, Gemm's pre-7 'broadcast' attribute dropped.
// Softmax/LogSoftmax/Hardmax before opset 13 keep their 2-D coercion semantics: the kernels branch on node.opset.
#include "onnx/ops/normalize.h"

namespace kiln {
namespace {

Status norm_reduce_axes(NormalizeContext& ctx, int64_t first_input_opset) {
  if (ctx.opset >= first_input_opset) return ok_status();
  if (ctx.node.has_input(1))
    return ctx.error("axes is an attribute before opset " + std::to_string(first_input_opset) + ", not an input");
  if (!ctx.node.attrs.has("axes")) return ok_status();
  std::vector<int64_t> axes = ctx.node.attrs.get_ints("axes");
  ctx.node.attrs.erase("axes");
  ctx.set_const_input(1, Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(axes.size())}, axes));
  return ok_status();
}

Status norm_reduce_sum(NormalizeContext& ctx) { return norm_reduce_axes(ctx, 13); }
Status norm_reduce_other(NormalizeContext& ctx) { return norm_reduce_axes(ctx, 18); }

Status norm_dft(NormalizeContext& ctx) {
  if (ctx.opset >= 20) return ok_status();
  const int64_t axis = ctx.node.attrs.get_int("axis", 1);
  ctx.node.attrs.erase("axis");
  ctx.set_const_input(2, Tensor::scalar<int64_t>(DType::kInt64, axis));
  return ok_status();
}

Status norm_gemm(NormalizeContext& ctx) {
  ctx.node.attrs.erase("broadcast");
  return ok_status();
}

}  // namespace

void register_math_normalizers(NormalizeRegistry& r) {
  r.add(OpKind::kReduceSum, norm_reduce_sum);
  for (OpKind op :
       {OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceLogSum, OpKind::kReduceLogSumExp, OpKind::kReduceMax,
        OpKind::kReduceMean, OpKind::kReduceMin, OpKind::kReduceProd, OpKind::kReduceSumSquare})
    r.add(op, norm_reduce_other);
  r.add(OpKind::kDFT, norm_dft);
  r.add(OpKind::kGemm, norm_gemm);
}

}  // namespace kiln
