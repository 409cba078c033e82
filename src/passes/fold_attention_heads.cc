// fold_attention_heads: Attention reads [B, S, H*D] projections directly (ONNX Attention's 3-D form, q_num_heads /
// kv_num_heads) instead of Reshape -> Transpose(0,2,1,3) copies into [B, H, S, D], and writes [B, S, H*D]
// instead of its [B, H, S, D] output going through Transpose(0,2,1,3) -> Reshape (a NaN guard Where(y == y, y, 0)
// between them moves to the 3-D output). A merge Reshape to 2-D [B*S, H*D] (GPT-2's Conv1D) stays, reading the
// 3-D output. Removes four transposes per attention block of exported transformers;
// backends read heads with strides.
#include <optional>
#include <set>
#include <utility>

#include "ir/attention_params.h"
#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

const std::vector<int64_t> kSwapHeads = {0, 2, 1, 3};

// Static dims of a value, -1 where unknown; empty when the rank is unknown.
std::vector<int64_t> dims_of(const Graph& g, const std::string& v) {
  return known_dims(g, v).value_or(std::vector<int64_t>{});
}

// `v` = Transpose(perm 0,2,1,3)(Reshape(x3d -> [.., .., H, D])) with x3d [B, S, H*D]: returns x3d and H.
bool match_split(const Graph& g, const std::map<std::string, size_t>& producers, const std::string& v,
                 std::string* x3d, int64_t* heads, std::set<size_t>* dead) {
  auto t = producers.find(v);
  if (t == producers.end()) return false;
  const Node& tr = g.nodes[t->second];
  if (tr.op != OpKind::kTranspose || tr.attrs.get_ints("perm") != kSwapHeads || !has_single_consumer(g, v)) return false;
  auto r = producers.find(tr.inputs[0]);
  if (r == producers.end()) return false;
  const Node& rs = g.nodes[r->second];
  if (rs.op != OpKind::kReshape || !has_single_consumer(g, tr.inputs[0])) return false;
  auto in = dims_of(g, rs.inputs[0]), out = dims_of(g, rs.outputs[0]);
  if (in.size() != 3 || out.size() != 4 || out[2] <= 0 || out[3] <= 0 || in[2] != out[2] * out[3]) return false;
  if (in[1] >= 0 && out[1] >= 0 && in[1] != out[1]) return false;
  if (in[0] >= 0 && out[0] >= 0 && in[0] != out[0]) return false;
  *x3d = rs.inputs[0];
  *heads = out[2];
  dead->insert(t->second);
  dead->insert(r->second);
  return true;
}

// Where(Equal(y, y), y, 0) reading the Attention output `y`, nothing else reading y (fuse_attention's NaN guard):
// the Equal and Where node indices.
std::optional<std::pair<size_t, size_t>> nan_guard(const Graph& g, const std::string& y) {
  auto uses = consumers(g, y);
  if (uses.size() != 3 || is_graph_output(g, y)) return std::nullopt;  // Equal reads y twice, Where once
  std::set<size_t> nodes;
  for (const Use& u : uses) {
    if (u.input == kSubgraphUse) return std::nullopt;
    nodes.insert(u.node);
  }
  if (nodes.size() != 2) return std::nullopt;
  size_t eq = *nodes.begin(), where = *nodes.rbegin();
  if (g.nodes[eq].op != OpKind::kEqual) std::swap(eq, where);
  const Node &a = g.nodes[eq], &w = g.nodes[where];
  if (a.op != OpKind::kEqual || a.inputs.size() != 2 || a.inputs[0] != y || a.inputs[1] != y ||
      w.op != OpKind::kWhere || w.inputs.size() != 3 || w.inputs[0] != a.outputs[0] || w.inputs[1] != y ||
      w.inputs[2] == y || !has_single_consumer(g, a.outputs[0]))
    return std::nullopt;
  return std::make_pair(eq, where);
}

class FoldAttentionHeads : public Pass {
 public:
  std::string name() const override { return "fold_attention_heads"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].op != OpKind::kAttention) continue;
      auto producers = build_producer_map(g);
      Node& n = g.nodes[i];
      if (n.inputs.size() < 3 || n.outputs.size() != 1) continue;
      bool extra = false;
      for (size_t k = 4; k < n.inputs.size(); ++k) extra |= !n.inputs[k].empty();
      auto params = attention_params(n.attrs);
      if (extra || !params.ok() || params->has_softcap() || params->packed_qkv) continue;
      std::string q, k, v;
      int64_t hq = 0, hk = 0, hv = 0;
      std::set<size_t> dead;
      if (!match_split(g, producers, n.inputs[0], &q, &hq, &dead) ||
          !match_split(g, producers, n.inputs[1], &k, &hk, &dead) ||
          !match_split(g, producers, n.inputs[2], &v, &hv, &dead) || hk != hv)
        continue;
      // Output: Attention [-> NaN guard] -> Transpose(0,2,1,3) -> Reshape to [B, S, H*Dv].
      const std::string y = n.outputs[0];
      auto guard = nan_guard(g, y);
      const std::string head = guard ? g.nodes[guard->second].outputs[0] : y;
      if (!guard && !has_single_consumer(g, y)) continue;
      if (!has_single_consumer(g, head)) continue;
      auto uses = consumers(g, head);
      if (uses.size() != 1 || uses[0].input == kSubgraphUse) continue;
      const Node& tr = g.nodes[uses[0].node];
      if (tr.op != OpKind::kTranspose || tr.attrs.get_ints("perm") != kSwapHeads ||
          !has_single_consumer(g, tr.outputs[0]))
        continue;
      auto uses2 = consumers(g, tr.outputs[0]);
      if (uses2.size() != 1 || uses2[0].input == kSubgraphUse) continue;
      const Node& rs = g.nodes[uses2[0].node];
      auto ydims = dims_of(g, y), out = dims_of(g, rs.outputs[0]);
      if (rs.op != OpKind::kReshape || ydims.size() != 4 || (out.size() != 3 && out.size() != 2) || ydims[1] <= 0 ||
          ydims[3] <= 0 || out.back() != ydims[1] * ydims[3])
        continue;
      // Merged to [B*S, H*Dv] (GPT-2's Conv1D, 2-D Gemm inputs): the Reshape stays, reading the 3-D output.
      const bool keep_reshape = out.size() == 2;
      const std::string y3d = keep_reshape ? g.fresh_name(rs.outputs[0] + "_3d") : rs.outputs[0];
      size_t tr_index = uses[0].node, rs_index = uses2[0].node;
      n.inputs[0] = q;
      n.inputs[1] = k;
      n.inputs[2] = v;
      n.attrs.set("q_num_heads", hq);
      n.attrs.set("kv_num_heads", hk);
      g.value_types.erase(y);
      if (guard) {  // the guard moves along: it now reads the 3-D output and writes y3d
        const std::string y3 = g.fresh_name(y3d + "_attention");
        n.outputs[0] = y3;
        g.nodes[guard->first].inputs = {y3, y3};
        g.nodes[guard->second].inputs[1] = y3;
        g.value_types.erase(g.nodes[guard->first].outputs[0]);
        g.value_types.erase(head);
        g.nodes[guard->second].outputs[0] = y3d;
      } else {
        n.outputs[0] = y3d;
      }
      dead.insert(tr_index);
      // The output Transpose (and Reshape) no longer produce y3d: rename their outputs out of the way before removal.
      g.nodes[tr_index].outputs[0] = g.fresh_name("dead");
      if (keep_reshape) {
        g.nodes[rs_index].inputs[0] = y3d;
      } else {
        dead.insert(rs_index);
        g.nodes[rs_index].outputs[0] = g.fresh_name("dead");
      }
      remove_nodes(g, dead);
      KILN_RETURN_IF_ERROR(reinfer_types(g, {y3d}));
      changed = true;
      i = 0;
    }
    if (changed) KILN_RETURN_IF_ERROR(topo_sort(g));
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_attention_heads_pass() { return std::make_unique<FoldAttentionHeads>(); }

}  // namespace kiln
