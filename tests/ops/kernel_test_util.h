// Runs one reference kernel on plain tensors: the core of every op family's kernel tests.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln {

// Runs the reference kernel of `op` on `inputs` (an undefined Tensor = absent optional input) with
// `num_outputs` requested outputs, and returns the output tensors.
inline Result<std::vector<Tensor>> run_reference_kernel(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs,
                                                        size_t num_outputs, int opset) {
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  std::vector<Value> values(inputs.size());
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    values[i] = Value::of(inputs[i]);
    ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  KernelFn fn = reference_kernels().find(op);
  if (!fn) return unimplemented("no kernel");
  KernelContext ctx(node, ptrs, nullptr);
  KILN_RETURN_IF_ERROR(fn(ctx));
  std::vector<Tensor> outs;
  for (auto& v : ctx.outputs()) outs.push_back(v.tensor);
  return outs;
}

}  // namespace kiln
