// Runs one node with the reference kernels on host tensors (contract in reference_eval.h).
#include "passes/reference_eval.h"

#include "backends/reference/kernel.h"

namespace kiln {

std::optional<std::vector<Tensor>> run_reference_node(const Node& n, const std::vector<const Tensor*>& inputs) {
  KernelFn fn = reference_kernels().find(n.op);
  if (!fn) return std::nullopt;
  std::vector<Value> values(inputs.size());
  std::vector<const Value*> ptrs(inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) continue;
    values[i] = Value::of(*inputs[i]);
    ptrs[i] = &values[i];
  }
  SubgraphRunner no_subgraphs = [](const Graph&, const std::vector<Value>&) -> Result<std::vector<Value>> {
    return internal_error("build-time evaluation does not run subgraphs");
  };
  KernelContext ctx(n, std::move(ptrs), no_subgraphs);
  if (!fn(ctx).ok()) return std::nullopt;
  std::vector<Tensor> out(n.outputs.size());
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (n.outputs[i].empty()) continue;
    const Value& v = ctx.outputs()[i];
    if (v.kind != ValueKind::kTensor || !v.tensor.defined()) return std::nullopt;
    out[i] = v.tensor;
  }
  return out;
}

}  // namespace kiln
