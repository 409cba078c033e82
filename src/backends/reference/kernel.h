// The reference backend's kernel contract: a plain function per op that reads its inputs from a
// KernelContext, validates them, and sets its outputs. Kernels compute output shapes themselves.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/value.h"

namespace kiln {

class KernelContext;
// Runs a subgraph with the given positional inputs; names of enclosing graphs stay visible.
using SubgraphRunner = std::function<Result<std::vector<Value>>(const Graph&, const std::vector<Value>&)>;

class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<const Value*> inputs, SubgraphRunner runner)
      : node_(node), inputs_(std::move(inputs)), runner_(std::move(runner)) {
    outputs_.resize(node.outputs.size());
  }
  const Node& node() const { return node_; }
  const Attrs& attrs() const { return node_.attrs; }
  int opset() const { return node_.opset; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // Input i as a Value (KILN_CHECKs presence: test has_input first for optional inputs).
  const Value& input_value(size_t i) const;
  // Input i as a tensor; an undefined Tensor if absent or not a tensor (use require_tensor to validate).
  const Tensor& input(size_t i) const;
  // Input i must be present and a tensor; otherwise an error naming the node and input index.
  Status require_tensor(size_t i) const;

  size_t num_outputs() const { return outputs_.size(); }
  bool wants_output(size_t i) const { return node_.has_output(i); }
  void set_output(size_t i, Tensor t) {
    if (i < outputs_.size()) outputs_[i] = Value::of(std::move(t));
  }
  void set_output_value(size_t i, Value v) {
    if (i < outputs_.size()) outputs_[i] = std::move(v);
  }
  std::vector<Value>& outputs() { return outputs_; }

  Result<std::vector<Value>> run_subgraph(const Graph& g, const std::vector<Value>& inputs) const {
    return runner_(g, inputs);
  }

  // invalid_argument("node 'n' (Op): msg") — for inputs that violate the op's contract.
  Status error(const std::string& msg) const;
  // unimplemented("node 'n' (Op): msg") — for valid inputs this kernel does not handle (a dtype, a mode).
  Status unsupported(const std::string& msg) const;

 private:
  const Node& node_;
  std::vector<const Value*> inputs_;
  SubgraphRunner runner_;
  std::vector<Value> outputs_;
};

using KernelFn = Status (*)(KernelContext&);

class KernelRegistry {
 public:
  void add(OpKind op, KernelFn fn) { fns_[op] = fn; }
  KernelFn find(OpKind op) const {
    auto it = fns_.find(op);
    return it == fns_.end() ? nullptr : it->second;
  }
  size_t size() const { return fns_.size(); }

 private:
  std::map<OpKind, KernelFn> fns_;
};

// The reference backend's kernels, registered by family in register.cc.
const KernelRegistry& reference_kernels();

}  // namespace kiln
