// The IR: a Graph of Nodes over named values in SSA form (each name is produced once).
// Subgraphs (If/Loop/Scan bodies) are Graphs held in attributes; they may read names of enclosing graphs.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/op_kind.h"
#include "ir/types.h"

namespace kiln {

struct Node {
  OpKind op = OpKind::kInvalid;
  std::string name;                  // unique within the graph (the importer names unnamed nodes)
  std::vector<std::string> inputs;   // "" = optional input left out
  std::vector<std::string> outputs;  // "" = optional output not requested
  Attrs attrs;
  int opset = 0;  // opset version of the node's domain in the source model (for version-specific semantics)

  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  bool has_output(size_t i) const { return i < outputs.size() && !outputs[i].empty(); }
  // "node 'name' (OpType)" for error messages.
  std::string describe() const;
};

struct ValueInfo {
  std::string name;
  TypeInfo type;
};

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;   // runtime inputs (initializers are not listed here)
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;         // topologically ordered
  std::map<std::string, Tensor> initializers;
  std::map<std::string, TypeInfo> value_types;  // inferred types of every value, inputs and outputs included
  std::map<std::string, int64_t> opsets;        // domain -> opset version (top-level graph)

  const TypeInfo* type_of(const std::string& value) const;
  // Graph-wide unique name with the given prefix (for values and nodes the importer and passes add).
  std::string fresh_name(const std::string& prefix);
  // Adds `t` as an initializer under a fresh name and returns the name.
  std::string add_constant(const std::string& prefix, Tensor t);

 private:
  int64_t fresh_counter_ = 0;
};

// Checks SSA form, topological order, that every input is defined (here or in `outer_names`),
// valid op kinds, and subgraphs recursively. Returns the first problem found.
Status verify_graph(const Graph& g, const std::set<std::string>& outer_names = {});

// All subgraphs held in a node's attributes.
std::vector<GraphPtr> node_subgraphs(const Node& n);
// Names defined inside `sub` itself (inputs, initializers, node outputs): they shadow outer names.
std::set<std::string> names_defined_in(const Graph& sub);
// Names that `sub` reads from enclosing scopes (inputs not defined inside it), recursively through nested
// subgraphs. These are the outer-scope reads of a control-flow node.
std::set<std::string> outer_reads(const Graph& sub);

// Human-readable dump of the graph (one line per node, with types when inferred).
std::string print_graph(const Graph& g, int indent = 0);

}  // namespace kiln
