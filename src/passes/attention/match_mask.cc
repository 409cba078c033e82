// The attention mask from the chain's terms. Rules (each keeps the graph's exact result):
//  - Where(c, scores, -inf) and scores + Where(c, 0, -inf) are the boolean mask c (True = attend; Not(c) for the
//    other polarity); And of conditions (Or under the other polarity) splits into separate conditions;
//  - a finite fill <= -1e30 absorbs any score, so a row with every key masked still averages uniformly: it stays
//    an additive Where(c, 0, fill);
//  - a finite fill <= -1e4 on a CONSTANT condition that leaves every row some key counts as -inf (the masked
//    weights underflow to 0 either way); other finite fills are refused;
//  - a constant condition (or constant additive 0 / <= -1e4 matrix) that is exactly lower-triangular [Sq, T]
//    becomes is_causal (ONNX Attention's top-left alignment); other additive terms stay additive (any factor).
//  Every remaining term must broadcast into the scores without widening them. The fused op reads a mask's last
//  dim shorter than the key length as "the rest is masked", not as a broadcast: when no term's last dim is shown
//  to be the key length (known > 1, the scores' own dim, or a named dim), the mask is expanded at run time.
#include <cmath>
#include <limits>

#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

constexpr double kUnderflowFill = -1e4;  // exp(-1e4) is 0 in every float type
constexpr double kAbsorbingFill = -1e30;  // s + fill == fill in float32 for any |s| < 1e22
constexpr int64_t kMaxScanElements = int64_t{1} << 24;

bool is_neg_inf(double v) { return std::isinf(v) && v < 0; }

// Keep-or-mask values of a constant condition (bool or numeric, != 0 is true), XOR `negate`.
struct ConstCond {
  const Tensor* t = nullptr;
  bool negate = false;
  bool keep(int64_t i) const { return (t->as_double(i) != 0) != negate; }
};

// Every row (last axis) of the constant keeps at least one key.
bool every_row_keeps(const ConstCond& c) {
  const Tensor& t = *c.t;
  if (t.numel() == 0 || t.numel() > kMaxScanElements) return false;
  const int64_t last = t.rank() == 0 ? 1 : t.dim(t.rank() - 1);
  if (last == 0) return false;
  for (int64_t row = 0; row < t.numel() / last; ++row) {
    bool any = false;
    for (int64_t j = 0; j < last && !any; ++j) any = c.keep(row * last + j);
    if (!any) return false;
  }
  return true;
}

// The constant is [.., Sq, T] with the scores' static Sq and T, its leading dims 1 or the scores' own (a causal
// matrix an exporter materialized per batch row).
bool is_causal_shaped(const Tensor& t, const std::vector<Dim>& scores) {
  const size_t r = scores.size();
  if (t.rank() < 2 || t.rank() > r || !scores[r - 2].is_known() || !scores[r - 1].is_known()) return false;
  for (size_t i = 0; i + 2 < t.rank(); ++i) {
    const Dim& s = scores[r - t.rank() + i];
    if (t.dim(i) != 1 && !(s.is_known() && s.value == t.dim(i))) return false;
  }
  return t.dim(t.rank() - 2) == scores[r - 2].value && t.dim(t.rank() - 1) == scores[r - 1].value &&
         t.numel() <= kMaxScanElements;
}

// keep(i, j) == (j <= i) over every [Sq, T] slice.
template <typename Keep>
bool lower_triangular(const Tensor& t, Keep keep) {
  const int64_t sq = t.dim(t.rank() - 2), tk = t.dim(t.rank() - 1);
  for (int64_t base = 0; base < t.numel(); base += sq * tk)
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t j = 0; j < tk; ++j)
        if (keep(base + i * tk + j) != (j <= i)) return false;
  return true;
}

// factor * c is 0 where j <= i and <= -1e4 (or -inf) where j > i, over every [Sq, T] slice.
bool additive_causal(const Tensor& c, double factor) {
  const int64_t sq = c.dim(c.rank() - 2), tk = c.dim(c.rank() - 1);
  for (int64_t base = 0; base < c.numel(); base += sq * tk)
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t j = 0; j < tk; ++j) {
        const double v = c.as_double(base + i * tk + j) * factor;
        if (j <= i ? v != 0 : !(v <= kUnderflowFill)) return false;
      }
  return true;
}

// `v` holds finite values only: a constant, a Where of finite branches, a cast of integers or booleans, a widening
// float cast or a reshape / broadcast of such a value.
bool finite_values(const Graph& g, const GraphIndex& idx, const std::string& v, int depth) {
  if (depth > 8) return false;
  if (const Tensor* t = constant_value(g, v)) {
    if (t->numel() > kMaxScanElements || !is_float(t->dtype())) return t->numel() <= kMaxScanElements;
    for (int64_t i = 0; i < t->numel(); ++i)
      if (!std::isfinite(t->as_double(i))) return false;
    return true;
  }
  const Node* n = idx.producer(v);
  if (!n || n->inputs.empty()) return false;
  switch (n->op) {
    case OpKind::kWhere:
      return n->inputs.size() == 3 && finite_values(g, idx, n->inputs[1], depth + 1) &&
             finite_values(g, idx, n->inputs[2], depth + 1);
    case OpKind::kCast: {
      const TypeInfo *in = g.type_of(n->inputs[0]), *out = g.type_of(v);
      if (!in || !out) return false;
      if (in->dtype == DType::kBool || is_integer(in->dtype)) return true;
      const bool widening = (out->dtype == DType::kFloat32 && in->dtype != DType::kFloat64) ||
                            out->dtype == DType::kFloat64 || out->dtype == in->dtype;
      return widening && finite_values(g, idx, n->inputs[0], depth + 1);
    }
    case OpKind::kExpand:
    case OpKind::kReshape:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kFlatten:
    case OpKind::kTranspose:
    case OpKind::kIdentity:
      return finite_values(g, idx, n->inputs[0], depth + 1);
    default:
      return false;
  }
}

struct Planner {
  const Graph& g;
  const GraphIndex& idx;
  const std::vector<Dim>& scores;
  MaskPlan plan;

  // A boolean condition (keep where true, or where false when `negate`): split, or turned into is_causal.
  void add_bool(const std::string& cond, bool negate, int depth = 0) {
    const Node* n = idx.producer(cond);
    const OpKind split = negate ? OpKind::kOr : OpKind::kAnd;  // keep = a && b  /  keep = !a && !b
    if (n && n->op == split && n->inputs.size() == 2 && depth < 4) {
      add_bool(n->inputs[0], negate, depth + 1);
      add_bool(n->inputs[1], negate, depth + 1);
      return;
    }
    if (const Tensor* t = constant_value(g, cond)) {
      ConstCond c{t, negate};
      bool all = t->numel() <= kMaxScanElements;
      for (int64_t i = 0; all && i < t->numel(); ++i) all = c.keep(i);
      if (all && fits(cond)) return;  // keeps everything (and widens nothing): no mask at all
      if (is_causal_shaped(*t, scores) && lower_triangular(*t, [&](int64_t i) { return c.keep(i); })) {
        plan.causal = true;
        return;
      }
    }
    plan.bool_terms.push_back(MaskPlan::BoolTerm{cond, negate});
  }

  // A masking select (the score, or the added term, replaced by `fill` where the condition says "mask").
  // `additive`: the fill is added to the score (s + fill) rather than replacing it.
  bool add_select(const std::string& cond, bool negate, double fill, bool additive, const std::string& as_value,
                  double factor) {
    if (is_neg_inf(fill)) {
      add_bool(cond, negate);
      return true;
    }
    if (std::isnan(fill) || fill > kUnderflowFill) {
      if (!additive) return false;
      plan.float_terms.push_back(MaskPlan::FloatTerm{as_value, factor});  // a plain additive term after all
      return true;
    }
    if (const Tensor* t = constant_value(g, cond); t && every_row_keeps(ConstCond{t, negate})) {
      add_bool(cond, negate);
      return true;
    }
    if (additive) {
      plan.float_terms.push_back(MaskPlan::FloatTerm{as_value, factor});
      return true;
    }
    if (fill > kAbsorbingFill) return false;
    plan.select_terms.push_back(MaskPlan::SelectTerm{cond, negate, fill});
    return true;
  }

  bool add_term(const MaskTerm& t) {
    if (t.kind == MaskTerm::kSelect) return add_select(t.value, !t.keep_when_true, t.fill, false, "", 1.0);
    // An additive Where(c, 0, f) / Where(c, f, 0) is a select on c.
    const Node* n = idx.producer(t.value);
    if (n && n->op == OpKind::kWhere && n->inputs.size() == 3 && t.factor > 0) {
      auto a = static_scalar(g, idx, n->inputs[1]), b = static_scalar(g, idx, n->inputs[2]);
      if (a && b && (*a == 0) != (*b == 0))
        return add_select(n->inputs[0], *a != 0, (*a == 0 ? *b : *a) * t.factor, true, t.value, t.factor);
    }
    // A constant additive causal matrix: 0 on and below the diagonal, <= -1e4 above.
    if (const Tensor* c = constant_value(g, t.value);
        c && t.factor > 0 && is_causal_shaped(*c, scores) && additive_causal(*c, t.factor)) {
      plan.causal = true;
      return true;
    }
    plan.float_terms.push_back(MaskPlan::FloatTerm{t.value, t.factor});
    return true;
  }

  // The term's dims fit into the scores' without widening them.
  bool fits(const std::string& v) const {
    const std::vector<Dim> d = dims_of(g, v);
    if (d.empty() && fuse::rank_of(g, v) != 0) return false;  // unknown rank
    if (d.size() > scores.size()) return false;
    for (size_t k = 0; k < d.size(); ++k) {
      const Dim& m = d[d.size() - 1 - k];
      const Dim& s = scores[scores.size() - 1 - k];
      if (m.is_known() && m.value == 1) continue;
      if (dims_conflict(m, s)) return false;
      if (s.is_known() && s.value == 1) return false;  // the term could widen a size-1 axis
    }
    return true;
  }

  // The key axis: known > 1, or the scores' own key dim, or a named dim (taken to be the key length).
  bool gives_key_axis(const std::string& v) const {
    const std::vector<Dim> d = dims_of(g, v);
    if (d.empty()) return false;
    const Dim& m = d.back();
    const Dim& s = scores.back();
    if (m.is_known()) return m.value > 1 || (s.is_known() && s.value == m.value);
    return !m.symbol.empty();
  }
};

}  // namespace

std::optional<MaskPlan> plan_mask(const Graph& g, const GraphIndex& idx, const std::vector<MaskTerm>& terms,
                                  const std::vector<Dim>& scores) {
  if (scores.size() < 2) return std::nullopt;
  Planner p{g, idx, scores, {}};
  for (const MaskTerm& t : terms)
    if (!p.add_term(t)) return std::nullopt;
  bool key_axis = false;
  for (const auto& t : p.plan.bool_terms) {
    if (!p.fits(t.cond)) return std::nullopt;
    key_axis = key_axis || p.gives_key_axis(t.cond);
  }
  for (const auto& t : p.plan.float_terms) {
    if (!p.fits(t.value) || !fuse::is_float_value(g, t.value)) return std::nullopt;
    key_axis = key_axis || p.gives_key_axis(t.value);
  }
  for (const auto& t : p.plan.select_terms) {
    if (!p.fits(t.cond)) return std::nullopt;
    key_axis = key_axis || p.gives_key_axis(t.cond);
  }
  p.plan.expand_keys = !p.plan.empty() && !key_axis;
  p.plan.may_mask_rows = !p.plan.bool_terms.empty();
  for (const auto& t : p.plan.float_terms) p.plan.may_mask_rows |= !finite_values(g, idx, t.value, 0);
  return p.plan;
}

}  // namespace kiln::attn
