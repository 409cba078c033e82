// Writes a matched attention block as nodes: Q, K and V (K through its key path or the un-repeated kv heads,
// 2-D/3-D operands lifted to 4-D with one head), the mask (boolean And of conditions, or the additive sum in Q's
// dtype), the ONNX Attention node (opset 23: scale, is_causal), the NaN guard when masking can empty a row, and the
// squeeze back to the rank the graph had. Node names derive from the output MatMul's.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/float_formats.h"
#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

// A scalar of a float dtype.
Tensor float_scalar(DType dt, double v) {
  switch (dt) {
    case DType::kFloat64:
      return Tensor::scalar<double>(dt, v);
    case DType::kFloat16:
      return Tensor::scalar<uint16_t>(dt, float_to_half(static_cast<float>(v)));
    case DType::kBFloat16:
      return Tensor::scalar<uint16_t>(dt, float_to_bf16(static_cast<float>(v)));
    default:
      return Tensor::scalar<float>(DType::kFloat32, static_cast<float>(v));
  }
}

Tensor int_vector(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

// Appends nodes named after the replaced MatMul.
struct Emitter {
  Graph& g;
  const Node& like;
  std::vector<Node> nodes;

  std::string add(OpKind op, std::vector<std::string> inputs, const std::string& what, int opset) {
    const std::string out = g.fresh_name(like.outputs[0] + "_" + what);
    Node n = fuse::fused_node(like, op, std::move(inputs), {out}, opset);
    n.name = g.fresh_name(like.name + "_" + what);
    nodes.push_back(std::move(n));
    return out;
  }
  Node& last() { return nodes.back(); }
  std::string ints(const std::string& what, const std::vector<int64_t>& v) {
    return g.add_constant(like.name + "_" + what, int_vector(v));
  }
  std::string scalar(DType dt, double v) { return g.add_constant(like.name + "_c", float_scalar(dt, v)); }

  std::string unsqueeze(const std::string& x, const std::vector<int64_t>& axes) {
    return axes.empty() ? x : add(OpKind::kUnsqueeze, {x, ints("axes", axes)}, "unsqueeze", 13);
  }
  std::string cast(const std::string& x, DType to) {
    const TypeInfo* t = g.type_of(x);
    if (t && t->dtype == to) return x;
    const std::string y = add(OpKind::kCast, {x}, "cast", 13);
    last().attrs.set("to", static_cast<int64_t>(to));
    return y;
  }
};

// The un-repeated kv heads [B, Hkv, T, D].
std::string heads_source(Emitter& e, const RepeatedHeads& h) {
  if (!h.squeeze) return h.source;
  return e.add(OpKind::kSqueeze, {h.source, e.ints("axes", {2})}, "kv_heads", 13);
}

std::string key_value(Emitter& e, const KeyPath& k) {
  std::string x = k.base;
  for (const KeyStep& s : k.steps) {
    if (s.transpose) {
      x = e.add(OpKind::kTranspose, {x}, "k_transpose", 13);
      e.last().attrs.set("perm", s.ints);
    } else {
      x = e.add(OpKind::kReshape, {x, e.ints("k_shape", s.ints)}, "k_reshape", 14);
    }
  }
  return x;
}

// Boolean condition `c`, negated when asked.
std::string keep_cond(Emitter& e, const std::string& c, bool negate) {
  return negate ? e.add(OpKind::kNot, {c}, "not", 1) : c;
}

// The mask value ("" for none), in the graph's rank; lifted to 4-D by the caller.
std::string mask_value(Emitter& e, const MaskPlan& m, DType dt) {
  if (m.empty()) return "";
  if (!m.is_float()) {
    std::string acc;
    for (const auto& b : m.bool_terms) {
      const std::string c = keep_cond(e, b.cond, b.negate);
      acc = acc.empty() ? c : e.add(OpKind::kAnd, {acc, c}, "mask_and", 7);
    }
    return acc;
  }
  std::vector<std::string> parts;
  for (const auto& f : m.float_terms) {
    std::string v = e.cast(f.value, dt);
    if (f.factor != 1.0) v = e.add(OpKind::kMul, {v, e.scalar(dt, f.factor)}, "mask_scaled", 14);
    parts.push_back(v);
  }
  for (const auto& s : m.select_terms) {
    const std::string zero = e.scalar(dt, 0.0), fill = e.scalar(dt, s.fill);
    parts.push_back(s.negate ? e.add(OpKind::kWhere, {s.cond, fill, zero}, "mask_select", 16)
                             : e.add(OpKind::kWhere, {s.cond, zero, fill}, "mask_select", 16));
  }
  if (!m.bool_terms.empty()) {
    std::string keep;
    for (const auto& b : m.bool_terms) {
      const std::string c = keep_cond(e, b.cond, b.negate);
      keep = keep.empty() ? c : e.add(OpKind::kAnd, {keep, c}, "mask_and", 7);
    }
    parts.push_back(e.add(OpKind::kWhere,
                          {keep, e.scalar(dt, 0.0), e.scalar(dt, -std::numeric_limits<double>::infinity())},
                          "mask_select", 16));
  }
  std::string acc = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) acc = e.add(OpKind::kAdd, {acc, parts[i]}, "mask_sum", 14);
  return acc;
}

}  // namespace

std::vector<Node> build_attention(Graph& g, const AttentionPlan& p) {
  const ScoreChain& c = p.chain;
  const Node pv = g.nodes[c.pv];  // a copy: adding constants does not move nodes, but keep it independent
  Emitter e{g, pv, {}};
  const DType dt = g.type_of(c.q)->dtype;
  const std::vector<int64_t> lift = p.rank == 3 ? std::vector<int64_t>{1}
                                    : p.rank == 2 ? std::vector<int64_t>{0, 1}
                                                  : std::vector<int64_t>{};
  const bool grouped = p.k_heads && p.v_heads;
  const std::string q = e.unsqueeze(c.q, lift);
  const std::string k = grouped ? heads_source(e, *p.k_heads) : e.unsqueeze(key_value(e, p.keys), lift);
  const std::string v = grouped ? heads_source(e, *p.v_heads) : e.unsqueeze(c.v, lift);
  std::string mask = mask_value(e, p.mask, dt);
  int64_t mask_rank = 0;  // the broadcast of its terms
  for (const auto& t : p.mask.bool_terms) mask_rank = std::max(mask_rank, fuse::rank_of(g, t.cond));
  for (const auto& t : p.mask.float_terms) mask_rank = std::max(mask_rank, fuse::rank_of(g, t.value));
  for (const auto& t : p.mask.select_terms) mask_rank = std::max(mask_rank, fuse::rank_of(g, t.cond));
  if (!mask.empty() && p.mask.expand_keys) {  // Expand(mask, [1, .., 1, T]) with T = V's key length
    const std::string t = e.add(OpKind::kShape, {v}, "key_length", 15);  // V as the fused node reads it
    const int64_t vr = grouped || !lift.empty() ? 4 : fuse::rank_of(g, c.v);
    e.last().attrs.set("start", vr - 2);
    e.last().attrs.set("end", vr - 1);
    std::string target = t;
    if (mask_rank > 1)
      target = e.add(OpKind::kConcat, {e.ints("ones", std::vector<int64_t>(mask_rank - 1, 1)), t}, "mask_shape", 13);
    if (mask_rank > 1) e.last().attrs.set("axis", int64_t{0});
    mask = e.add(OpKind::kExpand, {mask, target}, "mask_keys", 13);
    mask_rank = std::max<int64_t>(mask_rank, 1);
  }
  if (!mask.empty() && p.rank == 3 && mask_rank == 3) mask = e.unsqueeze(mask, {1});  // [N|1, 1, Sq|1, T]
  std::vector<std::string> inputs{q, k, v};
  if (!mask.empty()) inputs.push_back(mask);
  const std::string& y = pv.outputs[0];
  const bool direct = !(c.nan_guard && p.mask.may_mask_rows) && lift.empty();
  const std::string attn_out = direct ? y : g.fresh_name(y + "_attention");
  Node attn = fuse::fused_node(pv, OpKind::kAttention, inputs, {attn_out}, 23);
  attn.attrs.set("scale", static_cast<float>(c.scale * p.keys.factor));
  if (p.mask.causal) attn.attrs.set("is_causal", int64_t{1});
  e.nodes.push_back(std::move(attn));
  std::string out = attn_out;
  if (c.nan_guard && p.mask.may_mask_rows) {
    // Rows with every key masked come out as 0 (the graph's Where(IsNaN(P), 0, P)): Where(y == y, y, 0).
    const std::string same = e.add(OpKind::kEqual, {out, out}, "not_nan", 13);
    const std::string guarded = lift.empty() ? y : g.fresh_name(y + "_guarded");
    Node w = fuse::fused_node(pv, OpKind::kWhere, {same, out, c.guard_zero}, {guarded}, 16);
    w.name = g.fresh_name(pv.name + "_nan_guard");
    e.nodes.push_back(std::move(w));
    out = guarded;
  }
  if (!lift.empty()) {
    Node s = fuse::fused_node(pv, OpKind::kSqueeze, {out, e.ints("axes", lift)}, {y}, 13);
    s.name = g.fresh_name(pv.name + "_squeeze");
    e.nodes.push_back(std::move(s));
  }
  return std::move(e.nodes);
}

}  // namespace kiln::attn
