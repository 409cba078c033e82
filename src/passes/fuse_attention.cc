// fuse_attention: scaled dot-product attention written out as ops becomes one ONNX Attention node:
//   [Q = Q0 * c0] ; S = MatMul(Q, Kt) [/ c | * c] [+ mask] ; P = Softmax(S, last axis) ; Y = MatMul(P, V)
// with 4-D Q [B, H, S, D] and Kt = Transpose(K', [0,2,3,1]) of K' [B, S, H, D] (K = Transpose(K', [0,2,1,3]) is
// inserted, or an existing one reused) or Kt = Transpose(K, [0,1,3,2]) of K [B, H, S, D].
// The folded scale becomes the `scale` attribute; the mask becomes attn_mask (additive, broadcastable).
#include <algorithm>
#include <cmath>

#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

struct Match {
  std::string q, k_src, v, mask;
  bool k_needs_transpose = false;  // K' is [B, S, H, D]
  double scale = 1.0;
  std::vector<size_t> nodes;  // removed nodes; `last` is the output MatMul
  size_t last = 0;
};

// A scalar Div/Mul node scaling `value`: returns the multiplier it applies and the scaled operand.
std::optional<fuse::ScalarOperand> scalar_scaling(const Graph& g, const Node& n) {
  if (n.op == OpKind::kDiv && n.inputs.size() == 2) {
    auto c = scalar_constant(g, n.inputs[1]);
    if (c && *c != 0) return fuse::ScalarOperand{n.inputs[0], 1.0 / *c};
  }
  if (n.op == OpKind::kMul) {
    auto s = fuse::scalar_operand(g, n);
    if (s) return s;
  }
  return std::nullopt;
}

bool dims_conflict(const Dim& a, const Dim& b) { return a.is_known() && b.is_known() && a.value != b.value; }

// MatMul(Q, Kt) producing `scores`, optionally behind one scalar Div/Mul; every value read only by the next node.
bool match_scores(const Graph& g, const GraphIndex& idx, const std::string& scores, size_t reader, Match* m) {
  auto pi = idx.producer_index(scores);
  if (!pi || !idx.only_read_by(scores, reader)) return false;
  size_t mm = *pi;
  if (g.nodes[mm].op != OpKind::kMatMul) {
    auto s = scalar_scaling(g, g.nodes[mm]);
    if (!s) return false;
    auto qi = idx.producer_index(s->other);
    if (!qi || g.nodes[*qi].op != OpKind::kMatMul || !idx.only_read_by(s->other, mm)) return false;
    m->scale *= s->value;
    m->nodes.push_back(mm);
    mm = *qi;
  }
  const Node& qk = g.nodes[mm];
  if (qk.inputs.size() != 2) return false;
  m->nodes.push_back(mm);
  // Kt: a Transpose read only by this MatMul.
  auto ti = idx.producer_index(qk.inputs[1]);
  if (!ti || g.nodes[*ti].op != OpKind::kTranspose || !idx.only_read_by(qk.inputs[1], mm)) return false;
  const std::vector<int64_t> perm = g.nodes[*ti].attrs.get_ints("perm");
  if (perm == std::vector<int64_t>{0, 2, 3, 1})
    m->k_needs_transpose = true;
  else if (perm != std::vector<int64_t>{0, 1, 3, 2})
    return false;
  m->k_src = g.nodes[*ti].inputs[0];
  m->nodes.push_back(*ti);
  // Q, possibly scaled by a constant first.
  m->q = qk.inputs[0];
  auto qs = idx.producer_index(m->q);
  if (qs && idx.only_read_by(m->q, mm)) {
    auto s = scalar_scaling(g, g.nodes[*qs]);
    if (s && fuse::rank_of(g, s->other) == 4) {
      m->scale *= s->value;
      m->q = s->other;
      m->nodes.push_back(*qs);
    }
  }
  return true;
}

bool match(const Graph& g, const GraphIndex& idx, size_t si, Match* m) {
  const Node& sm = g.nodes[si];
  if (sm.inputs.empty() || fuse::rank_of(g, sm.inputs[0]) != 4) return false;
  const int64_t axis = sm.attrs.get_int("axis", sm.opset >= 13 || sm.opset == 0 ? -1 : 1);
  if (axis != -1 && axis != 3) return false;
  auto oi = idx.sole_consumer(sm.outputs[0]);
  if (!oi || g.nodes[*oi].op != OpKind::kMatMul || g.nodes[*oi].inputs.size() != 2 ||
      g.nodes[*oi].inputs[0] != sm.outputs[0])
    return false;
  m->last = *oi;
  m->v = g.nodes[*oi].inputs[1];
  m->nodes = {si};
  const std::string& s = sm.inputs[0];
  auto ai = idx.producer_index(s);
  if (ai && g.nodes[*ai].op == OpKind::kAdd && idx.only_read_by(s, si)) {
    const Node& add = g.nodes[*ai];
    for (int side = 0; side < 2; ++side) {
      Match t = *m;
      t.nodes.push_back(*ai);
      if (add.inputs[0] == add.inputs[1] || !match_scores(g, idx, add.inputs[side], *ai, &t)) continue;
      t.mask = add.inputs[1 - side];
      *m = t;
      break;
    }
    if (m->mask.empty()) return false;
  } else if (!match_scores(g, idx, s, si, m)) {
    return false;
  }
  // Shapes: Q [B,H,S,D], K [B,H,S,D] (after the transpose), V [B,H,S,Dv] with no conflicting known dims.
  const TypeInfo *qt = g.type_of(m->q), *kt = g.type_of(m->k_src), *vt = g.type_of(m->v);
  if (!qt || !kt || !vt || !qt->shape.rank_known || !kt->shape.rank_known || !vt->shape.rank_known) return false;
  if (qt->shape.rank() != 4 || kt->shape.rank() != 4 || vt->shape.rank() != 4) return false;
  std::vector<Dim> k = kt->shape.dims;
  if (m->k_needs_transpose) std::swap(k[1], k[2]);
  const auto& q = qt->shape.dims;
  const auto& v = vt->shape.dims;
  for (int d = 0; d < 2; ++d)
    if (dims_conflict(q[d], k[d]) || dims_conflict(q[d], v[d])) return false;
  if (dims_conflict(q[3], k[3]) || dims_conflict(k[2], v[2])) return false;
  if (!fuse::is_float_value(g, m->q) || qt->dtype != kt->dtype || qt->dtype != vt->dtype) return false;
  if (!m->mask.empty()) {
    const TypeInfo* mt = g.type_of(m->mask);
    if (!mt || mt->dtype != qt->dtype || !mt->shape.rank_known || mt->shape.rank() > 4) return false;
  }
  return std::isfinite(m->scale) && m->scale != 0;
}

// An existing Transpose(k_src, [0,2,1,3]) defined before node `before`, not being removed: its output, or "".
std::string existing_k_transpose(const Graph& g, const GraphIndex& idx, const fuse::Rewriter& rw, const Match& m) {
  for (size_t c : idx.consumer_nodes(m.k_src)) {
    const Node& n = g.nodes[c];
    if (c < m.last && n.op == OpKind::kTranspose && n.inputs[0] == m.k_src && !rw.claimed({c}) &&
        std::find(m.nodes.begin(), m.nodes.end(), c) == m.nodes.end() &&
        n.attrs.get_ints("perm") == std::vector<int64_t>{0, 2, 1, 3})
      return n.outputs[0];
  }
  return "";
}

class FuseAttention : public Pass {
 public:
  std::string name() const override { return "fuse_attention"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op != OpKind::kSoftmax) continue;
      Match m;
      if (!match(g, idx, i, &m)) continue;
      std::vector<size_t> all = m.nodes;
      all.push_back(m.last);
      if (rw.claimed(all)) continue;
      std::vector<Node> replacement;
      std::string k = m.k_src;
      if (m.k_needs_transpose) {
        k = existing_k_transpose(g, idx, rw, m);
        if (k.empty()) {
          k = g.fresh_name(m.k_src + "_bhsd");
          Node t = fuse::fused_node(g.nodes[m.last], OpKind::kTranspose, {m.k_src}, {k}, g.nodes[m.last].opset);
          t.name = g.fresh_name(g.nodes[m.last].name + "_k_transpose");
          t.attrs.set("perm", std::vector<int64_t>{0, 2, 1, 3});
          replacement.push_back(std::move(t));
        }
      }
      std::vector<std::string> inputs{m.q, k, m.v};
      if (!m.mask.empty()) inputs.push_back(m.mask);
      Node attn = fuse::fused_node(g.nodes[m.last], OpKind::kAttention, inputs, {g.nodes[m.last].outputs[0]}, 23);
      attn.attrs.set("scale", static_cast<float>(m.scale));
      replacement.push_back(std::move(attn));
      rw.replace(m.last, std::move(replacement), m.nodes);
    }
    if (!rw.changed()) return false;
    return rw.commit();
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_attention_pass() { return std::make_unique<FuseAttention>(); }

}  // namespace kiln
