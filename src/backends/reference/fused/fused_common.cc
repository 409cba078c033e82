// Plumbing shared by the fused reference kernels: running a plain op's reference kernel on their behalf.
#include "backends/reference/fused/fused_math.h"

namespace kiln::fused_ref {

// Checks that the optional inputs present share X's dtype, which must be one the fused kernels compute in.
Status check_fused_dtypes(const KernelContext& ctx, size_t num_inputs) {
  const DType t = ctx.input(0).dtype();
  if (!fused_dtype_supported(t))
    return ctx.unsupported(std::string("dtype ") + dtype_name(t) + " (float16, bfloat16, float32, float64 only)");
  for (size_t i = 1; i < num_inputs; ++i) {
    if (!ctx.has_input(i)) continue;
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    if (ctx.input(i).dtype() != t)
      return ctx.error("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input(i).dtype()) +
                       "; input 0 has " + dtype_name(t));
  }
  return ok_status();
}

Result<Tensor> run_inner_kernel(const KernelContext& ctx, OpKind op, KernelFn fn, const std::vector<Tensor>& inputs) {
  Node inner = ctx.node();
  inner.op = op;
  inner.inputs.clear();
  inner.outputs = {"y"};
  std::vector<Value> values;
  values.reserve(inputs.size());
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    inner.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    values.push_back(Value::of(inputs[i]));
  }
  for (size_t i = 0; i < inputs.size(); ++i) ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
  KernelContext inner_ctx(inner, ptrs, nullptr);
  Status st = fn(inner_ctx);
  if (!st.ok()) return Status(st.code(), st.message() + " (computing " + ctx.node().describe() + ")");
  if (inner_ctx.outputs().empty() || !inner_ctx.outputs()[0].tensor.defined())
    return internal_error(ctx.node().describe() + ": the inner kernel produced no output");
  return inner_ctx.outputs()[0].tensor;
}

}  // namespace kiln::fused_ref
