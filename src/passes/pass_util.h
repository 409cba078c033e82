// Shared graph-editing helpers for passes: use lists, rewiring, node removal, constants, re-inference.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// A use of a value: node `node` (index into g.nodes) reads it as input `input`.
struct Use {
  size_t node;
  size_t input;
};

// value name -> its uses by nodes of `g` (top level). Reads from inside subgraphs of a node count as a use
// of that node with input == kSubgraphUse: such uses cannot be rewired by editing node inputs.
constexpr size_t kSubgraphUse = static_cast<size_t>(-1);
std::map<std::string, std::vector<Use>> build_use_map(const Graph& g);

// The uses of one value (a linear scan; use build_use_map when asking for many values).
std::vector<Use> consumers(const Graph& g, const std::string& value);


// True when `value` is one of g's outputs.
bool is_graph_output(const Graph& g, const std::string& value);

// True when exactly one node input (top level, no subgraph reads) reads `value` and it is not a graph output.
// Fusion passes use it to check that an intermediate value may disappear.
bool has_single_consumer(const Graph& g, const std::string& value);

// Index of the node producing `value`, or nullopt (graph input, initializer, outer-scope value).
std::optional<size_t> producer_index(const Graph& g, const std::string& value);
// Map of every produced value -> producing node index.
std::map<std::string, size_t> build_producer_map(const Graph& g);

// Rewrites every read of `from` (node inputs at top level and reads inside subgraphs, unless a subgraph
// shadows the name) to `to`. Graph outputs are NOT renamed; returns false (and changes nothing) if `from`
// is a graph output, so the caller can pick another rewiring (see replace_value_keep_output).
bool replace_all_uses(Graph& g, const std::string& from, const std::string& to);

// Makes `replacement` stand for `old` everywhere, keeping graph output names: if `old` is not a graph output,
// reads of `old` become reads of `replacement`. If `old` is a graph output and `replacement` is produced by a
// node of g (not a graph input/initializer/graph output itself), the producer's output is renamed to `old`
// and reads of `replacement` become reads of `old`. Returns false (no change) when neither is possible.
// The caller then removes the node that produced `old`.
bool replace_value_keep_output(Graph& g, const std::string& old, const std::string& replacement);

// Removes the nodes with the given indices (order preserved for the rest) and drops the value_types of
// their outputs that no remaining node produces.
void remove_nodes(Graph& g, const std::set<size_t>& indices);

// Constant value of `value`: an initializer of g, or nullptr. (Constant nodes become initializers at import.)
const Tensor* constant_value(const Graph& g, const std::string& value);

// A constant holding a single element (rank 0 or every dim 1), read as double; nullopt otherwise.
std::optional<double> scalar_constant(const Graph& g, const std::string& value);

// Integer contents of a constant int32/int64 tensor (e.g. a Reshape shape or Transpose-like axes input).
std::optional<std::vector<int64_t>> int_constant(const Graph& g, const std::string& value);

// Static dims of a tensor value when its shape is fully known, nullopt otherwise.
std::optional<std::vector<int64_t>> static_shape(const Graph& g, const std::string& value);

// Dims of a value with -1 where a dim is unknown; nullopt when its rank is unknown.
std::optional<std::vector<int64_t>> known_dims(const Graph& g, const std::string& value);

// out = transpose(t, perm): out dim d is t's dim perm[d] (a constant folded at build time). Errors for
// packed sub-byte dtypes and a perm that does not match t's rank.
Result<Tensor> permute_tensor(const Tensor& t, const std::vector<int64_t>& perm);

// Re-runs shape inference over g after a rewrite. The types of values in `changed` are dropped first so that
// inference does not merge them with stale facts; pass every value whose type the rewrite changed while
// keeping its name. New values (fresh names) need not be listed.
Status reinfer_types(Graph& g, const std::set<std::string>& changed = {});

// A node with a fresh unique name: op, inputs, outputs (names must already be chosen), and an opset
// taken from `like` when given (so version-specific semantics match the node it replaces).
Node make_node(Graph& g, OpKind op, const std::string& name_prefix, std::vector<std::string> inputs,
               std::vector<std::string> outputs, const Node* like = nullptr);

// Inserts `n` right before node index `pos` (keeps topological order when its inputs are defined earlier).
void insert_node(Graph& g, size_t pos, Node n);

// Drops initializers no node (at any depth) nor graph output reads. Returns how many were dropped.
size_t remove_unused_initializers(Graph& g);

// Sorts g.nodes topologically (stable: keeps the original order where allowed). Returns an error naming a
// node when the graph has a cycle or reads an undefined value (outer-scope names count as defined).
Status topo_sort(Graph& g, const std::set<std::string>& outer_names = {});

}  // namespace kiln
