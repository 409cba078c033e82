// eliminate_common_subexpressions: merges nodes computing the same op on the same inputs with equal attributes,
// and identical small initializers (so that nodes reading copies of one constant can merge too).
#include <cstring>
#include <memory>
#include <set>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

// Initializers up to this many bytes are compared for merging (larger ones are weights: never duplicated).
constexpr size_t kMaxMergedConstantBytes = 64 * 1024;

bool is_nondeterministic(OpKind op) {
  return op == OpKind::kRandomNormal || op == OpKind::kRandomNormalLike || op == OpKind::kRandomUniform ||
         op == OpKind::kRandomUniformLike || op == OpKind::kBernoulli || op == OpKind::kMultinomial;
}

// Byte-exact tensor equality (so -0.0 and 0.0 differ, and NaN payloads compare by bits).
bool tensors_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.dims() != b.dims()) return false;
  if (a.dtype() == DType::kString) {
    for (int64_t i = 0; i < a.numel(); ++i)
      if (a.strings()[i] != b.strings()[i]) return false;
    return true;
  }
  return a.nbytes() == b.nbytes() && (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// Attribute equality; subgraph attributes never compare equal (bodies are not compared structurally).
bool attrs_equal(const Attrs& a, const Attrs& b) {
  const auto& ma = a.all();
  const auto& mb = b.all();
  if (ma.size() != mb.size()) return false;
  for (auto ia = ma.begin(), ib = mb.begin(); ia != ma.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.index() != ib->second.index()) return false;
    const AttrValue& va = ia->second;
    const AttrValue& vb = ib->second;
    if (std::holds_alternative<GraphPtr>(va) || std::holds_alternative<std::vector<GraphPtr>>(va)) return false;
    if (auto* ta = std::get_if<Tensor>(&va)) {
      if (!tensors_equal(*ta, std::get<Tensor>(vb))) return false;
    } else if (auto* tsa = std::get_if<std::vector<Tensor>>(&va)) {
      const auto& tsb = std::get<std::vector<Tensor>>(vb);
      if (tsa->size() != tsb.size()) return false;
      for (size_t i = 0; i < tsa->size(); ++i)
        if (!tensors_equal((*tsa)[i], tsb[i])) return false;
    } else if (auto* fa = std::get_if<float>(&va)) {
      float fb = std::get<float>(vb);
      if (std::memcmp(fa, &fb, sizeof(float)) != 0) return false;
    } else if (auto* fsa = std::get_if<std::vector<float>>(&va)) {
      const auto& fsb = std::get<std::vector<float>>(vb);
      if (fsa->size() != fsb.size() ||
          (!fsa->empty() && std::memcmp(fsa->data(), fsb.data(), fsa->size() * sizeof(float)) != 0))
        return false;
    } else if (auto* ia_ = std::get_if<int64_t>(&va)) {
      if (*ia_ != std::get<int64_t>(vb)) return false;
    } else if (auto* sa = std::get_if<std::string>(&va)) {
      if (*sa != std::get<std::string>(vb)) return false;
    } else if (auto* isa = std::get_if<std::vector<int64_t>>(&va)) {
      if (*isa != std::get<std::vector<int64_t>>(vb)) return false;
    } else if (auto* ssa = std::get_if<std::vector<std::string>>(&va)) {
      if (*ssa != std::get<std::vector<std::string>>(vb)) return false;
    } else {
      return false;  // an attribute kind added later: do not merge until it is compared here
    }
  }
  return true;
}

bool mergeable(const Node& n) {
  return n.op != OpKind::kInvalid && !is_nondeterministic(n.op) && !n.outputs.empty() && node_subgraphs(n).empty();
}

bool same_computation(const Node& a, const Node& b) {
  if (a.op != b.op || a.opset != b.opset || a.inputs != b.inputs || a.outputs.size() != b.outputs.size()) return false;
  // The same outputs must be requested: some ops compute differently depending on which are wanted.
  for (size_t i = 0; i < a.outputs.size(); ++i)
    if (a.outputs[i].empty() != b.outputs[i].empty()) return false;
  return attrs_equal(a.attrs, b.attrs);
}

// Merges byte-identical small initializers into the first of each group. Returns true when any merged.
bool merge_constants(Graph& g) {
  std::vector<std::string> kept;
  std::map<std::string, std::string> rename;
  for (const auto& [name, t] : g.initializers) {
    if (!constant_value(g, name) || is_graph_output(g, name) || t.nbytes() > kMaxMergedConstantBytes) continue;
    bool merged = false;
    for (const auto& k : kept) {
      if (tensors_equal(g.initializers.at(k), t)) {
        rename[name] = k;
        merged = true;
        break;
      }
    }
    if (!merged) kept.push_back(name);
  }
  for (const auto& [from, to] : rename) replace_all_uses(g, from, to);
  if (rename.empty()) return false;
  remove_unused_initializers(g);
  return true;
}

class EliminateCommonSubexpressions : public Pass {
 public:
  std::string name() const override { return "eliminate_common_subexpressions"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = merge_constants(g);
    // Nodes are visited in order, so when a duplicate is merged the names it is rewired to are defined earlier;
    // merging one pair can make later pairs equal (their inputs now match), which the same sweep then finds.
    // Candidates are bucketed by op and inputs (read when the node is visited, i.e. after earlier merges rewired
    // them), so only nodes that can be equal are compared.
    std::set<size_t> removed;
    std::map<std::string, std::vector<size_t>> buckets;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      if (!mergeable(g.nodes[k])) continue;
      std::string key = std::to_string(static_cast<int>(g.nodes[k].op));
      for (const auto& in : g.nodes[k].inputs) key += "|" + in;
      std::vector<size_t>& bucket = buckets[key];
      bool merged = false;
      for (size_t j : bucket) {
        if (!same_computation(g.nodes[j], g.nodes[k]) || !merge_into(g, j, k)) continue;
        removed.insert(k);
        merged = changed = true;
        break;
      }
      if (!merged) bucket.push_back(k);
    }
    remove_nodes(g, removed);
    return changed;
  }

 private:
  // Rewires the outputs of node `dup` to those of node `keep`. Graph outputs keep their names: when dup's output
  // is a graph output, keep's output is renamed to it (possible only when keep's output is not one too).
  static bool merge_into(Graph& g, size_t keep, size_t dup) {
    const Node& a = g.nodes[keep];
    const Node& b = g.nodes[dup];
    std::set<std::string> renamed_targets;
    for (size_t i = 0; i < b.outputs.size(); ++i) {
      if (b.outputs[i].empty() || !is_graph_output(g, b.outputs[i])) continue;
      if (is_graph_output(g, a.outputs[i])) return false;
    }
    for (size_t i = 0; i < b.outputs.size(); ++i) {
      if (b.outputs[i].empty()) continue;
      std::string old = g.nodes[dup].outputs[i], repl = g.nodes[keep].outputs[i];
      // Rename dup's output first so replace_value_keep_output does not see two producers of one name.
      if (is_graph_output(g, old)) {
        std::string tmp = g.fresh_name(old + "_dup");
        g.nodes[dup].outputs[i] = tmp;
        g.value_types[tmp] = g.value_types[old];
        for (auto& o : g.nodes[keep].outputs)
          if (o == repl) o = old;
        replace_all_uses(g, repl, old);
        g.value_types[old] = g.value_types.count(repl) ? g.value_types[repl] : g.value_types[old];
        g.value_types.erase(repl);
      } else {
        replace_all_uses(g, old, repl);
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_eliminate_common_subexpressions_pass() {
  return std::make_unique<EliminateCommonSubexpressions>();
}

}  // namespace kiln
