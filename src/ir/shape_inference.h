// Static shape and type inference: one InferFn per op kind, run over a graph in node order.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

// What an op's inference function sees: its node, the static types of its inputs, and the constant
// values of inputs that are known at build time (initializers, or outputs of Shape/Size/... computed here).
class InferContext {
 public:
  InferContext(const Node& node, std::vector<TypeInfo> in_types, std::vector<const Tensor*> in_values,
               const std::map<std::string, TypeInfo>* scope_types)
      : node_(node), in_types_(std::move(in_types)), in_values_(std::move(in_values)), scope_types_(scope_types) {
    out_types_.resize(node.outputs.size());
    out_values_.resize(node.outputs.size());
  }
  const Node& node() const { return node_; }
  const Attrs& attrs() const { return node_.attrs; }
  int opset() const { return node_.opset; }
  size_t num_inputs() const { return node_.inputs.size(); }
  bool has_input(size_t i) const { return node_.has_input(i); }
  // The input's type; an unknown TypeInfo when the input is absent or its type was not inferred.
  const TypeInfo& input_type(size_t i) const;
  // Constant value of input i, or nullptr if not known at build time.
  const Tensor* input_value(size_t i) const { return i < in_values_.size() ? in_values_[i] : nullptr; }
  size_t num_outputs() const { return node_.outputs.size(); }
  void set_output_type(size_t i, TypeInfo t) {
    if (i < out_types_.size()) out_types_[i] = std::move(t);
  }
  // Records a build-time constant for output i (and its type).
  void set_output_value(size_t i, Tensor t);
  // Infers the types of a subgraph's values given its input types; the enclosing scope stays visible.
  Status infer_subgraph(Graph& body, const std::vector<TypeInfo>& input_types) const;
  // invalid_argument("node 'n' (Op): msg")
  Status error(const std::string& msg) const;

  const std::vector<TypeInfo>& output_types() const { return out_types_; }
  const std::vector<Tensor>& output_values() const { return out_values_; }

 private:
  const Node& node_;
  std::vector<TypeInfo> in_types_;
  std::vector<const Tensor*> in_values_;
  const std::map<std::string, TypeInfo>* scope_types_;
  std::vector<TypeInfo> out_types_;
  std::vector<Tensor> out_values_;
};

using InferFn = Status (*)(InferContext&);

class InferRegistry {
 public:
  void add(OpKind op, InferFn fn) { fns_[op] = fn; }
  InferFn find(OpKind op) const {
    auto it = fns_.find(op);
    return it == fns_.end() ? nullptr : it->second;
  }

 private:
  std::map<OpKind, InferFn> fns_;
};

// Every op family's inference functions (src/ir/infer/*.cc register into it; see infer/register.cc).
const InferRegistry& infer_registry();

// Infers value_types for every value of `g`. Declared types (from the model) stay where inference knows
// less; a contradiction between inputs and an op's rules is an error naming the node.
// `outer` holds the types visible from enclosing graphs.
Status infer_graph_types(Graph& g, const std::map<std::string, TypeInfo>* outer = nullptr);

}  // namespace kiln
