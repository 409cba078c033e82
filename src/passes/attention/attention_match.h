// The attention matcher's pieces (fuse_attention.cc drives them): what one recognised block is made of and the
// read-only steps that find it. Nothing here edits the graph; build_attention.cc turns a match into nodes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "passes/fuse_util.h"

namespace kiln::attn {

using fuse::GraphIndex;

// ---- static_scalar.cc ----
// A single-element value known at build time: a constant, or arithmetic (Cast, Sqrt, Reciprocal, Neg, Mul, Div,
// Add, Sub, Pow) on constants and on static dims read through Shape -> Slice/Gather (how exporters write
// 1/sqrt(head_dim) when the batch dim is dynamic). nullopt when any piece is not known.
std::optional<double> static_scalar(const Graph& g, const GraphIndex& idx, const std::string& value);

// A node multiplying one operand by a build-time scalar: Mul(x, c), Mul(c, x) or Div(x, c).
struct Scaling {
  std::string other;
  double factor = 1.0;
};
std::optional<Scaling> scalar_scaling(const Graph& g, const GraphIndex& idx, const Node& n);

// ---- match_scores.cc ----
// One masking step between the scores MatMul and the Softmax, in the order the graph applies them.
struct MaskTerm {
  enum Kind { kAdd, kSelect };
  Kind kind = kAdd;
  std::string value;           // kAdd: the tensor added; kSelect: the Where condition
  double factor = 1.0;         // kAdd: scores += factor * value (later scalings folded in)
  bool keep_when_true = true;  // kSelect: the score survives where the condition is this
  double fill = 0.0;           // kSelect: what a masked score becomes (later scalings folded in)
};

// Q K^T [scalings, masks, casts] -> Softmax(last axis) [Cast, Dropout(inference), NaN guard] -> MatMul(P, V).
struct ScoreChain {
  std::string q, kt, v;         // Q and Kt with their scalar factors stripped; V as the final MatMul reads it
  size_t qk = 0, pv = 0;        // the scores MatMul and the output MatMul
  double scale = 1.0;           // product of every scalar factor on Q, Kt and the scores
  std::vector<MaskTerm> terms;  // in application order
  bool nan_guard = false;       // Where(IsNaN(P), 0, P): fully masked rows give 0 instead of NaN
  std::string guard_zero;       // the guard's zero (a constant of P's dtype)
  std::vector<size_t> nodes;    // every node from the scores MatMul to the output MatMul, pv excluded
};

// The chain around Softmax node `softmax`, every intermediate read only by the next step; nullopt otherwise.
std::optional<ScoreChain> match_score_chain(const Graph& g, const GraphIndex& idx, size_t softmax);

// ---- match_keys.cc ----
// One step of the key path: K = Transpose(x, perm) or K = Reshape(x, shape) (a constant shape, no zeros).
struct KeyStep {
  bool transpose = true;
  std::vector<int64_t> ints;
};
// K [.., T, D] recovered from the scores MatMul's Kt [.., D, T]: `base` then `steps`; `factor` collects scalar
// factors met on the way. A Transpose swapping Kt's last two axes is the fallback when nothing simpler fits.
struct KeyPath {
  std::string base;
  std::vector<KeyStep> steps;
  double factor = 1.0;
  std::vector<Dim> dims;  // K's dims (Kt's with the last two swapped)
};
std::optional<KeyPath> untranspose_keys(const Graph& g, const GraphIndex& idx, const std::string& kt);

// ---- match_heads.cc ----
// K or V [B, Hq, T, D] built as repeat_kv does (x [B, Hkv, T, D] -> Unsqueeze(2) -> Expand [B, Hkv, G, T, D] ->
// Reshape), or Tile of a single head: the un-repeated source. `squeeze` = the source is the 5-D Expand input and
// needs Squeeze(axis 2).
struct RepeatedHeads {
  std::string source;
  bool squeeze = false;
  int64_t kv_heads = 0, group = 0;
};
// `value` with dims `dims` (reached through reshapes only; `base` may differ from `value` when a planned Reshape
// of `base` gives it).
std::optional<RepeatedHeads> match_repeated_heads(const Graph& g, const GraphIndex& idx, const std::string& base,
                                                  const std::vector<Dim>& dims);

// ---- match_mask.cc ----
// The mask the fused node gets, from the chain's terms. `bool_terms` are And-ed (each possibly negated),
// `float_terms` added (each times its factor); bool terms join a float mask as Where(b, 0, -inf).
struct MaskPlan {
  bool causal = false;
  struct BoolTerm {
    std::string cond;
    bool negate = false;
  };
  struct FloatTerm {
    std::string value;
    double factor = 1.0;
  };
  // Where(cond, 0, fill) (negate: Where(cond, fill, 0)) with a fill that absorbs any score (<= -1e30): a row
  // with every key masked stays a uniform average, as the graph computes it.
  struct SelectTerm {
    std::string cond;
    bool negate = false;
    double fill = 0.0;
  };
  std::vector<BoolTerm> bool_terms;
  std::vector<FloatTerm> float_terms;
  std::vector<SelectTerm> select_terms;
  // No term shows at build time that its last dim is the key length: the mask is Expanded to [.., T] (T read
  // from V's shape at run time), so that a size-1 key axis broadcasts as in the graph instead of reading as
  // "the rest is masked".
  bool expand_keys = false;
  // Some row may have every key masked (a boolean term, or a float term not shown finite): the fused node then
  // gives NaN there, and the graph's NaN guard on the probabilities must be kept on the output.
  bool may_mask_rows = false;
  bool empty() const { return bool_terms.empty() && float_terms.empty() && select_terms.empty(); }
  bool is_float() const { return !float_terms.empty() || !select_terms.empty(); }
};
// `scores` = the dims of the scores MatMul's output [.., Sq, T]. nullopt when a term cannot be expressed exactly
// (docs/fused-ops.md lists the rules: fills, broadcasts, the key axis).
std::optional<MaskPlan> plan_mask(const Graph& g, const GraphIndex& idx, const std::vector<MaskTerm>& terms,
                                  const std::vector<Dim>& scores);

// Small helpers shared by the steps.
std::vector<Dim> dims_of(const Graph& g, const std::string& value);  // empty when the rank is unknown
bool dims_conflict(const Dim& a, const Dim& b);                       // both known and different
bool is_reshape_like(OpKind op);                                      // Reshape, Flatten, Squeeze, Unsqueeze

}  // namespace kiln::attn

namespace kiln::attn {

// ---- build_attention.cc ----
// A complete match: the chain, the key path, the mask, grouped heads (both set: K and V are fed un-repeated),
// and the rank of Q, K, V and the scores (2 and 3 are lifted to 4-D with one head, then the output squeezed).
struct AttentionPlan {
  ScoreChain chain;
  KeyPath keys;
  MaskPlan mask;
  std::optional<RepeatedHeads> k_heads, v_heads;
  int64_t rank = 4;
};

// The nodes that replace the output MatMul (in order; the chain's other nodes are removed by the caller). Adds
// the constants they need to `g`.
std::vector<Node> build_attention(Graph& g, const AttentionPlan& p);

}  // namespace kiln::attn
