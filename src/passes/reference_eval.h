// Runs one node on host tensors with the reference kernels at build time (fold_constants, fold_qdq_lookup).
#pragma once
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "kiln/tensor.h"

namespace kiln {

// The outputs of `n` run by its reference kernel on `inputs` (nullptr for an omitted optional input), one per
// node output (an undefined Tensor for an unnamed one). nullopt when the op has no reference kernel, the kernel
// rejects the inputs, or an output is not a plain tensor. Nodes with subgraphs are not run (nullopt).
std::optional<std::vector<Tensor>> run_reference_node(const Node& n, const std::vector<const Tensor*>& inputs);

}  // namespace kiln
