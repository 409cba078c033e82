// fuse_attention: scaled dot-product attention written out as ops becomes one ONNX Attention node (opset 23):
//   S = MatMul(Q, Kt) with scalings, masks and float casts; P = Softmax(S, last axis) [Cast, inference Dropout,
//   NaN guard]; Y = MatMul(P, V)
// for 2-D, 3-D and 4-D operands, Kt from any transpose of K (or a reshape of one), scale anywhere on Q, K or the
// scores, additive / boolean / causal masks and grouped-query heads. The steps live in src/passes/attention/
// (match_scores, match_keys, match_heads, match_mask, build_attention); docs/fused-ops.md lists what is
// recognised and what is refused. A block is fused only when the Attention node computes exactly what the graph
// computes.
#include <set>

#include "passes/attention/attention_match.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using attn::AttentionPlan;

// A size-1 axis of K or V facing a larger one of Q: only the heads axis of 4-D operands may do that (one kv head
// shared by every query head).
bool batch_axes_fit(const std::vector<Dim>& q, const std::vector<Dim>& k, const std::vector<Dim>& v) {
  const size_t r = q.size();
  auto one = [](const Dim& d) { return d.is_known() && d.value == 1; };
  for (size_t a = 0; a + 2 < r; ++a) {
    if (attn::dims_conflict(q[a], k[a]) && !(r == 4 && a == 1 && one(k[a]))) return false;
    if (attn::dims_conflict(q[a], v[a]) && !(r == 4 && a == 1 && one(v[a]))) return false;
    if (one(q[a]) != one(k[a]) || one(q[a]) != one(v[a])) {
      // Q broadcast over K/V, or K and V sharing heads differently: not an Attention.
      if (one(q[a]) || !(r == 4 && a == 1 && one(k[a]) && one(v[a]))) return false;
    }
  }
  return true;
}

std::optional<AttentionPlan> match(const Graph& g, const attn::GraphIndex& idx, size_t softmax) {
  auto chain = attn::match_score_chain(g, idx, softmax);
  if (!chain) return std::nullopt;
  auto keys = attn::untranspose_keys(g, idx, chain->kt);
  if (!keys) return std::nullopt;
  const std::vector<Dim> q = attn::dims_of(g, chain->q), v = attn::dims_of(g, chain->v);
  const std::vector<Dim> scores = attn::dims_of(g, g.nodes[chain->qk].outputs[0]);
  const std::vector<Dim>& k = keys->dims;
  const size_t r = q.size();
  if (r < 2 || r > 4 || k.size() != r || v.size() != r || scores.size() != r) return std::nullopt;
  if (fuse::rank_of(g, g.nodes[softmax].inputs[0]) != static_cast<int64_t>(r)) return std::nullopt;
  if (!batch_axes_fit(q, k, v)) return std::nullopt;
  if (attn::dims_conflict(q[r - 1], k[r - 1]) || attn::dims_conflict(k[r - 2], v[r - 2])) return std::nullopt;
  auto mask = attn::plan_mask(g, idx, chain->terms, scores);
  if (!mask) return std::nullopt;
  AttentionPlan p;
  p.rank = static_cast<int64_t>(r);
  // Grouped heads: K and V both repeated from the same number of kv heads.
  const bool plain_keys = keys->steps.empty() || (keys->steps.size() == 1 && !keys->steps[0].transpose);
  if (r == 4 && plain_keys && q[1].is_known()) {
    auto kh = attn::match_repeated_heads(g, idx, keys->base, k);
    auto vh = attn::match_repeated_heads(g, idx, chain->v, v);
    if (kh && vh && kh->kv_heads == vh->kv_heads && kh->group == vh->group &&
        kh->kv_heads * kh->group == q[1].value) {
      p.k_heads = kh;
      p.v_heads = vh;
    }
  }
  p.chain = std::move(*chain);
  p.keys = std::move(*keys);
  p.mask = std::move(*mask);
  return p;
}

class FuseAttention : public Pass {
 public:
  std::string name() const override { return "fuse_attention"; }

  Result<bool> run(Graph& g, const PassOptions& options) override {
    std::set<std::string> initializers_before;
    for (const auto& kv : g.initializers) initializers_before.insert(kv.first);
    bool any = false;
    {
      attn::GraphIndex idx(g);
      fuse::Rewriter rw(g);
      for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].op != OpKind::kSoftmax) continue;
        auto plan = match(g, idx, i);
        if (!plan) continue;
        std::vector<size_t> all = plan->chain.nodes;
        all.push_back(plan->chain.pv);
        if (rw.claimed(all)) continue;
        rw.replace(plan->chain.pv, attn::build_attention(g, *plan), plan->chain.nodes);
      }
      if (!rw.changed()) return false;
      KILN_ASSIGN_OR_RETURN(any, rw.commit());
    }
    if (!any) {  // inference refused the result: the graph is as it was, minus the constants we added
      for (auto it = g.initializers.begin(); it != g.initializers.end();)
        it = initializers_before.count(it->first) ? std::next(it) : g.initializers.erase(it);
      return false;
    }
    // Scalings, transposes and mask pieces the fused nodes no longer read: gone now, so that later passes
    // (fold_attention_heads) see single readers.
    KILN_RETURN_IF_ERROR(make_eliminate_dead_code_pass()->run(g, options).status());
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_attention_pass() { return std::make_unique<FuseAttention>(); }

}  // namespace kiln
