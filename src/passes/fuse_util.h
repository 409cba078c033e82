// Pattern-matching helpers shared by the fusion passes (fuse_*.cc): a read-only index of producers and uses,
// operand matching for commutative ops and constants, and a batch rewriter that replaces matched node groups.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/infer/fused_ops.h"
#include "passes/pass_util.h"

namespace kiln::fuse {

// Producers and uses of every value of a graph, built once per sweep. The fusion passes match read-only against
// it, then apply all rewrites at once through Rewriter.
class GraphIndex {
 public:
  explicit GraphIndex(const Graph& g);
  const Graph& graph() const { return g_; }
  // The node producing `value` (nullptr: graph input, initializer or outer-scope value) and its index.
  const Node* producer(const std::string& value) const;
  std::optional<size_t> producer_index(const std::string& value) const;
  // Producer of `value` when it is a node of kind `op`.
  const Node* producer_of(const std::string& value, OpKind op) const;
  // Distinct nodes reading `value` (subgraph reads count); a node reading it twice counts once.
  std::set<size_t> consumer_nodes(const std::string& value) const;
  // True when `value` may disappear into a fusion whose next node is `consumer`: every read of it is by node
  // `consumer` (top level), and it is not a graph output.
  bool only_read_by(const std::string& value, size_t consumer) const;
  // The single consumer node of `value` when exactly one node reads it (top level) and it is not a graph output.
  std::optional<size_t> sole_consumer(const std::string& value) const;
  bool is_output(const std::string& value) const { return outputs_.count(value) != 0; }
  const Node& node(size_t i) const { return g_.nodes[i]; }

 private:
  const Graph& g_;
  std::map<std::string, size_t> producers_;
  std::map<std::string, std::vector<Use>> uses_;
  std::set<std::string> outputs_;
};

// Float values of a known float dtype (what the fusions apply to).
bool is_float_value(const Graph& g, const std::string& value);
// Static rank of a value, or -1.
int64_t rank_of(const Graph& g, const std::string& value);

// A scalar constant (single element initializer) and whether it is close to `want` (relative tolerance).
bool is_scalar_near(const Graph& g, const std::string& value, double want, double rel_tol = 1e-3);

// For a binary node with inputs (a, b): if one input equals `known`, the other one. Both orders.
std::optional<std::string> other_input(const Node& n, const std::string& known);
// For a binary node, the input that is a scalar constant (first match) and the other input.
struct ScalarOperand {
  std::string other;
  double value = 0;
};
std::optional<ScalarOperand> scalar_operand(const Graph& g, const Node& n);

// The axes a Reduce* node reduces over (attribute or constant input 1, by opset); nullopt when not static.
std::optional<std::vector<int64_t>> reduce_axes(const Graph& g, const Node& n);
// True for a Reduce* node reducing exactly the last axis of a rank-`rank` input with keepdims = 1.
bool reduces_last_axis_keepdims(const Graph& g, const Node& n);

// Normalization patterns (fuse_layer_norm, fuse_rms_norm).
// True when `n` squares `v`: Pow(v, 2) or Mul(v, v).
bool is_square_of(const Graph& g, const Node& n, const std::string& v);
// From `var`: Add(var, eps scalar constant) -> Sqrt, each read only by the next; appends {add, sqrt} to `nodes`.
bool match_add_eps_sqrt(const Graph& g, const GraphIndex& idx, const std::string& var, double* eps,
                        std::vector<size_t>* nodes);
// After node `last` (the normalized value): an optional Mul by a constant (gamma), then, when `with_beta`, an
// optional Add of a constant (beta), each the sole reader of the value before. Appends matched nodes to `nodes`.
void match_affine(const Graph& g, const GraphIndex& idx, size_t last, bool with_beta, std::vector<size_t>* nodes,
                  std::string* gamma, std::string* beta);
// The Scale / B inputs of a last-axis normalization of `x` from constants `gamma` / `beta` ("" = absent): each
// must hold D = x's static last dim elements (or 1) along the last axis only, and x's dtype. A missing gamma
// becomes ones; constants of another shape are re-added as [D]. False when they do not fit.
bool last_axis_params(Graph& g, const std::string& x, const std::string& gamma, const std::string& beta,
                      std::string* scale, std::string* bias);

// Activation patterns (fuse_conv_activation, fuse_matmul_bias_activation): the activation node(s) applied to
// `y`, which they alone read: Relu, LeakyRelu, Sigmoid, Tanh, Clip (constant bounds), HardSigmoid, HardSwish,
// Gelu (none/tanh) and Silu as Mul(y, Sigmoid(y)). `last` produces the activated value.
struct ActivationMatch {
  fused::Activation act;
  std::vector<size_t> nodes;
  size_t last = 0;
};
std::optional<ActivationMatch> match_activation(const Graph& g, const GraphIndex& idx, const std::string& y);

// True when two dims are the same size: equal known values or the same symbol.
bool same_dim(const Dim& a, const Dim& b);
// True when `a` and `b` have the same static rank and same_dim dims.
bool same_shape(const Shape& a, const Shape& b);

// Batch rewriter: each fusion claims nodes, replaces its last node by new nodes (written at that position, so
// inputs defined before it stay valid), and removes the others. commit() rebuilds g.nodes and re-infers types.
class Rewriter {
 public:
  explicit Rewriter(Graph& g) : g_(g) {}
  // True if any of `nodes` was already claimed by an earlier fusion in this sweep.
  bool claimed(const std::vector<size_t>& nodes) const;
  // Node `last` is replaced by `replacement` (in order); `removed` nodes disappear. Claims all of them.
  void replace(size_t last, std::vector<Node> replacement, const std::vector<size_t>& removed);
  bool changed() const { return !replace_.empty(); }
  // Applies the edits and re-infers types (`changed_types`: see reinfer_types). Returns false, with the graph
  // restored, when there was nothing to apply or inference rejects the result.
  Result<bool> commit(const std::set<std::string>& changed_types = {});

 private:
  Graph& g_;
  std::set<size_t> claimed_;
  std::set<size_t> removed_;
  std::map<size_t, std::vector<Node>> replace_;
};

// A constant adding one value per output column: numel N (or 1), every dim but the last 1, rank <= out_rank.
// Its values as [N] scaled by `scale`, in dtype `dt` (float32/float64; float16/bfloat16 only unscaled [N]), or nullopt.
std::optional<Tensor> column_vector(const Tensor* t, int64_t n, int64_t out_rank, DType dt, double scale);
// The constant float32 value `v` ("" or anything else: null).
const Tensor* constant_f32(const Graph& g, const std::string& v);
// A QuantizeLinear that the op producing its input can take over (fold_qdq_fp8_output, fold_qdq_fp8_norm): to
// float8e4m3fn, per tensor with a constant positive scale, zero point absent or zero, saturating, no block size or
// precision override.
bool is_absorbable_fp8_quantize(const Graph& g, const Node& q);

// A node named like `like` (fused nodes keep the name of the node they replace), of kind `op`.
Node fused_node(const Node& like, OpKind op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                int opset);

}  // namespace kiln::fuse
