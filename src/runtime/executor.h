// Interprets a Graph node by node with a KernelRegistry; values are freed after their last use.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln {

// Values visible while running a graph; lookups fall through to the enclosing scope (for subgraphs).
class Scope {
 public:
  explicit Scope(const Scope* parent = nullptr) : parent_(parent) {}
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v) { values_[name] = std::move(v); }
  void erase(const std::string& name) { values_.erase(name); }

 private:
  const Scope* parent_;
  std::unordered_map<std::string, Value> values_;
};

struct ExecOptions {
  // Called after each node with its outputs (for debugging and per-node profiling); may be empty.
  std::function<void(const Node&, const std::vector<Value>&)> on_node_done;
};

// Runs `g` in `scope` (which must already hold the graph inputs; initializers are added here) and
// returns the graph outputs in order. Errors name the failing node.
Result<std::vector<Value>> execute_graph(const Graph& g, const KernelRegistry& kernels, Scope& scope,
                                         const ExecOptions& options = {});

}  // namespace kiln
