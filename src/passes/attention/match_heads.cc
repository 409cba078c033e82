// Grouped-query heads: K or V repeated from fewer heads the way transformers' repeat_kv (and torch's SDPA
// enable_gqa decomposition) writes it, x [B, Hkv, T, D] -> Unsqueeze(2) -> Expand [B, Hkv, G, T, D] -> Reshape
// [B, Hkv*G, T, D], so head h reads kv head h / G, exactly ONNX Attention's grouping. Tile repeats heads the
// other way round (h % Hkv): only a single kv head (where both agree) is taken from it.
#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

constexpr int kMaxReshapes = 8;

bool provably_equal(const Dim& a, const Dim& b) { return fuse::same_dim(a, b); }

std::optional<RepeatedHeads> from_expand(const Graph& g, const GraphIndex& idx, const Node& e,
                                         const std::vector<Dim>& dims) {
  if (e.inputs.size() != 2 || e.outputs.size() != 1) return std::nullopt;
  const std::vector<Dim> in = dims_of(g, e.inputs[0]), out = dims_of(g, e.outputs[0]);
  if (in.size() != 5 || out.size() != 5) return std::nullopt;
  if (!in[1].is_known() || !in[2].is_known() || in[2].value != 1 || !out[2].is_known() || out[2].value < 1)
    return std::nullopt;
  // Only the group axis is broadcast: the others keep their size.
  if (!provably_equal(in[1], out[1]) || dims_conflict(in[0], out[0]) || dims_conflict(in[3], out[3]) ||
      dims_conflict(in[4], out[4]))
    return std::nullopt;
  for (int k : {0, 3, 4})
    if (in[k].is_known() && in[k].value == 1 && !(out[k].is_known() && out[k].value == 1)) return std::nullopt;
  // The reshapes end at [B, Hkv*G, T, D]: heads and head size known to match, and T or B shown equal (with the
  // element count that pins the other one).
  const int64_t hkv = in[1].value, group = out[2].value;
  if (!dims[1].is_known() || dims[1].value != hkv * group || !provably_equal(dims[3], out[4])) return std::nullopt;
  if (!provably_equal(dims[2], out[3]) && !provably_equal(dims[0], out[0])) return std::nullopt;
  RepeatedHeads r;
  r.kv_heads = hkv;
  r.group = group;
  const Node* u = idx.producer(e.inputs[0]);
  if (u && u->op == OpKind::kUnsqueeze && u->inputs.size() >= 1 && dims_of(g, u->inputs[0]).size() == 4) {
    std::vector<int64_t> axes = u->attrs.get_ints("axes");
    if (u->has_input(1)) axes = int_constant(g, u->inputs[1]).value_or(std::vector<int64_t>{});
    if (axes.size() == 1 && (axes[0] == 2 || axes[0] == -3)) {
      r.source = u->inputs[0];
      return r;
    }
  }
  r.source = e.inputs[0];
  r.squeeze = true;
  return r;
}

std::optional<RepeatedHeads> from_tile(const Graph& g, const Node& t, const std::vector<Dim>& dims) {
  if (t.inputs.size() != 2 || t.outputs.size() != 1) return std::nullopt;
  auto reps = int_constant(g, t.inputs[1]);
  const std::vector<Dim> in = dims_of(g, t.inputs[0]), out = dims_of(g, t.outputs[0]);
  if (!reps || reps->size() != 4 || in.size() != 4 || out.size() != 4) return std::nullopt;
  if ((*reps)[0] != 1 || (*reps)[2] != 1 || (*reps)[3] != 1 || (*reps)[1] < 1) return std::nullopt;
  if (!in[1].is_known() || in[1].value != 1) return std::nullopt;  // Tile's h % Hkv order equals h / G only here
  for (size_t k = 0; k < 4; ++k)
    if (!provably_equal(out[k], dims[k]) && !(k == 1 && dims[1].is_known() && dims[1].value == (*reps)[1]))
      return std::nullopt;
  RepeatedHeads r;
  r.source = t.inputs[0];
  r.kv_heads = 1;
  r.group = (*reps)[1];
  return r;
}

}  // namespace

std::optional<RepeatedHeads> match_repeated_heads(const Graph& g, const GraphIndex& idx, const std::string& base,
                                                  const std::vector<Dim>& dims) {
  if (dims.size() != 4 || !dims[1].is_known()) return std::nullopt;
  std::string x = base;
  bool reshaped = false;
  for (int i = 0; i < kMaxReshapes; ++i) {
    const Node* n = idx.producer(x);
    if (!n || n->inputs.empty() || n->outputs.size() != 1) return std::nullopt;
    if (is_reshape_like(n->op)) {
      x = n->inputs[0];
      reshaped = true;
      continue;
    }
    if (n->op == OpKind::kExpand) return from_expand(g, idx, *n, dims);
    if (n->op == OpKind::kTile && !reshaped && x == base) return from_tile(g, *n, dims);
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace kiln::attn
