// The score chain of an attention block: from the Softmax back to the Q.Kt MatMul through scalings, additive
// masks, Where masks and float casts, and forward to the P.V MatMul through a cast back, an inference Dropout and
// the NaN guard torch's SDPA export writes. Every intermediate must be read only by the next step.
#include <algorithm>
#include <cmath>

#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

constexpr int kMaxSteps = 24;

// One op between the scores MatMul and the Softmax, as met walking backwards.
struct Step {
  enum Kind { kScale, kAdd, kSelect, kCast };
  Kind kind = kScale;
  std::string value;  // kAdd: added tensor; kSelect: condition
  double c = 1.0;     // kScale: factor; kAdd: sign; kSelect: fill
  bool keep_when_true = true;
};

// A float -> float Cast that does not lose precision (fp16/bf16 -> fp32/fp64, fp32 -> fp64, or same type).
bool widening_cast(const Graph& g, const Node& n) {
  if (n.op != OpKind::kCast || n.inputs.size() != 1) return false;
  const TypeInfo *in = g.type_of(n.inputs[0]), *out = g.type_of(n.outputs[0]);
  if (!in || !out || !fuse::is_float_value(g, n.inputs[0]) || !fuse::is_float_value(g, n.outputs[0])) return false;
  auto width = [](DType t) { return t == DType::kFloat64 ? 3 : t == DType::kFloat32 ? 2 : 1; };
  return in->dtype == out->dtype || width(out->dtype) > width(in->dtype);
}

// Walks back from `x` (read only by node `reader`) to the scores MatMul; `steps` get the ops in reverse order.
bool walk_scores(const Graph& g, const GraphIndex& idx, const std::string& x, size_t reader, ScoreChain* c,
                 std::vector<Step>* steps) {
  if (steps->size() > kMaxSteps) return false;
  auto pi = idx.producer_index(x);
  if (!pi || !idx.only_read_by(x, reader)) return false;
  const Node& n = g.nodes[*pi];
  if (n.outputs.size() != 1) return false;
  const size_t mark_steps = steps->size(), mark_nodes = c->nodes.size();
  auto undo = [&] {
    steps->resize(mark_steps);
    c->nodes.resize(mark_nodes);
  };
  c->nodes.push_back(*pi);
  switch (n.op) {
    case OpKind::kMatMul:
      if (n.inputs.size() != 2 || n.inputs[0] == n.inputs[1]) break;
      c->qk = *pi;
      c->q = n.inputs[0];
      c->kt = n.inputs[1];
      return true;
    case OpKind::kMul:
    case OpKind::kDiv:
      if (auto s = scalar_scaling(g, idx, n)) {
        steps->push_back({Step::kScale, "", s->factor});
        if (walk_scores(g, idx, s->other, *pi, c, steps)) return true;
      }
      break;
    case OpKind::kAdd:
    case OpKind::kSub:
      for (int side = 0; side < (n.op == OpKind::kSub ? 1 : 2); ++side) {
        if (n.inputs.size() != 2 || n.inputs[0] == n.inputs[1]) break;
        steps->resize(mark_steps);
        c->nodes.resize(mark_nodes + 1);
        steps->push_back({Step::kAdd, n.inputs[1 - side], n.op == OpKind::kSub ? -1.0 : 1.0});
        if (walk_scores(g, idx, n.inputs[side], *pi, c, steps)) return true;
      }
      break;
    case OpKind::kWhere:
      // Where(cond, scores, fill) keeps scores where cond; Where(cond, fill, scores) where !cond.
      for (size_t side = 1; side <= 2; ++side) {
        if (n.inputs.size() != 3) break;
        auto fill = static_scalar(g, idx, n.inputs[3 - side]);
        if (!fill || n.inputs[side] == n.inputs[0]) continue;
        steps->resize(mark_steps);
        c->nodes.resize(mark_nodes + 1);
        Step s{Step::kSelect, n.inputs[0], *fill};
        s.keep_when_true = side == 1;
        steps->push_back(s);
        if (walk_scores(g, idx, n.inputs[side], *pi, c, steps)) return true;
      }
      break;
    case OpKind::kCast:
      if (widening_cast(g, n)) {
        steps->push_back(Step{Step::kCast, "", 1.0, true});
        if (walk_scores(g, idx, n.inputs[0], *pi, c, steps)) return true;
      }
      break;
    default:
      break;
  }
  undo();
  return false;
}

// The steps, forward: scalings multiply the scale and every term already added (a negative factor after a Where
// would turn its -inf into +inf: refused).
bool apply_steps(std::vector<Step> steps, ScoreChain* c) {
  std::reverse(steps.begin(), steps.end());
  for (const Step& s : steps) {
    switch (s.kind) {
      case Step::kScale:
        c->scale *= s.c;
        for (MaskTerm& t : c->terms) {
          if (t.kind == MaskTerm::kAdd) {
            t.factor *= s.c;
          } else {
            if (s.c <= 0) return false;
            t.fill *= s.c;
          }
        }
        break;
      case Step::kAdd:
        c->terms.push_back(MaskTerm{MaskTerm::kAdd, s.value, s.c});
        break;
      case Step::kSelect: {
        MaskTerm t{MaskTerm::kSelect, s.value};
        t.keep_when_true = s.keep_when_true;
        t.fill = s.c;
        c->terms.push_back(t);
        break;
      }
      case Step::kCast:
        break;
    }
  }
  return true;
}

// From the Softmax output forward to the P.V MatMul.
bool walk_probs(const Graph& g, const GraphIndex& idx, std::string p, ScoreChain* c) {
  for (int guard = 0; guard < kMaxSteps; ++guard) {
    if (idx.is_output(p)) return false;
    const std::set<size_t> users = idx.consumer_nodes(p);
    if (users.size() == 2) {  // Where(IsNaN(p), 0, p)
      size_t isnan = 0, where = 0;
      for (size_t u : users) (g.nodes[u].op == OpKind::kIsNaN ? isnan : where) = u;
      const Node &a = g.nodes[isnan], &w = g.nodes[where];
      if (a.op != OpKind::kIsNaN || w.op != OpKind::kWhere || w.inputs.size() != 3 || a.outputs.size() != 1 ||
          a.inputs.size() != 1 || a.inputs[0] != p || !idx.only_read_by(a.outputs[0], where) ||
          w.inputs[0] != a.outputs[0] || w.inputs[2] != p || w.inputs[1] == p)
        return false;
      auto zero = static_scalar(g, idx, w.inputs[1]);
      if (!zero || *zero != 0 || c->nan_guard) return false;
      c->nan_guard = true;
      c->guard_zero = w.inputs[1];
      c->nodes.push_back(isnan);
      c->nodes.push_back(where);
      p = w.outputs[0];
      continue;
    }
    auto ui = idx.sole_consumer(p);
    if (!ui) return false;
    const Node& n = g.nodes[*ui];
    if (n.op == OpKind::kMatMul && n.inputs.size() == 2 && n.inputs[0] == p && n.inputs[1] != p) {
      c->pv = *ui;
      c->v = n.inputs[1];
      return true;
    }
    if (n.outputs.empty() || n.inputs.empty() || n.inputs[0] != p) return false;
    if (n.op == OpKind::kCast) {
      if (!fuse::is_float_value(g, n.outputs[0])) return false;
    } else if (n.op == OpKind::kDropout) {
      // Inference Dropout is the identity; training_mode must be absent or a constant false, the mask unused.
      if (n.has_output(1)) return false;
      if (n.has_input(2)) {
        auto training = scalar_constant(g, n.inputs[2]);
        if (!training || *training != 0) return false;
      }
    } else if (n.op != OpKind::kIdentity) {
      return false;
    }
    c->nodes.push_back(*ui);
    p = n.outputs[0];
  }
  return false;
}

}  // namespace

std::optional<ScoreChain> match_score_chain(const Graph& g, const GraphIndex& idx, size_t softmax) {
  const Node& sm = g.nodes[softmax];
  if (sm.op != OpKind::kSoftmax || sm.inputs.size() != 1 || sm.outputs.size() != 1) return std::nullopt;
  const int64_t rank = fuse::rank_of(g, sm.inputs[0]);
  if (rank < 2) return std::nullopt;
  // opset < 13 flattens from `axis` (default 1): the same as last-axis softmax only when axis is the last one.
  int64_t axis = sm.attrs.get_int("axis", sm.opset >= 13 || sm.opset == 0 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return std::nullopt;
  ScoreChain c;
  std::vector<Step> steps;
  c.nodes.push_back(softmax);
  if (!walk_scores(g, idx, sm.inputs[0], softmax, &c, &steps) || !apply_steps(steps, &c)) return std::nullopt;
  if (!walk_probs(g, idx, sm.outputs[0], &c)) return std::nullopt;
  // Q, then strip the build-time scalar factors on it (they may have other readers: then they stay).
  for (int i = 0; i < kMaxSteps; ++i) {
    const Node* n = idx.producer(c.q);
    auto s = n ? scalar_scaling(g, idx, *n) : std::nullopt;
    if (!s) break;
    c.scale *= s->factor;
    c.q = s->other;
  }
  // One float dtype for Q, Kt, V and the probabilities the output MatMul reads.
  const TypeInfo *qt = g.type_of(c.q), *kt = g.type_of(c.kt), *vt = g.type_of(c.v);
  const TypeInfo* pt = g.type_of(g.nodes[c.pv].inputs[0]);
  if (!qt || !kt || !vt || !pt || !fuse::is_float_value(g, c.q)) return std::nullopt;
  if (kt->dtype != qt->dtype || vt->dtype != qt->dtype || pt->dtype != qt->dtype) return std::nullopt;
  if (!std::isfinite(c.scale) || c.scale == 0) return std::nullopt;
  return c;
}

}  // namespace kiln::attn
