// Per-op import normalizers: rewrite a freshly imported node from its opset's form into the canonical
// (newest-opset) form, e.g. attribute-to-input moves (Clip, Slice, Squeeze, Reduce*, Split, Pad, TopK).
#pragma once
#include <map>

#include "ir/graph.h"

namespace kiln {

struct NormalizeContext {
  Graph& graph;  // the graph the node belongs to (add constants here)
  Node& node;
  int64_t opset;  // the model's opset for the node's domain
  // Appends a constant input (an initializer with a fresh name) at position `index`, padding with "".
  void set_const_input(size_t index, Tensor t);
  Status error(const std::string& msg) const { return invalid_argument(node.describe() + ": " + msg); }
};

using NormalizeFn = Status (*)(NormalizeContext&);

class NormalizeRegistry {
 public:
  void add(OpKind op, NormalizeFn fn) { fns_[op] = fn; }
  NormalizeFn find(OpKind op) const {
    auto it = fns_.find(op);
    return it == fns_.end() ? nullptr : it->second;
  }

 private:
  std::map<OpKind, NormalizeFn> fns_;
};

const NormalizeRegistry& normalize_registry();

}  // namespace kiln
