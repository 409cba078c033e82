// eliminate_dead_code: removes nodes whose outputs nobody reads and initializers nobody reads.
#include <memory>
#include <set>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

// Removes dead nodes of `g`, recursing into the subgraphs of live nodes (copy-on-write: a subgraph shared
// with another copy of the graph is replaced, never edited). A value is live when a graph output names it or a
// live node reads it, directly or from inside one of its subgraphs. Returns true when anything was removed.
bool sweep(Graph& g) {
  bool changed = false;
  std::set<std::string> live;
  for (const auto& vi : g.outputs) live.insert(vi.name);
  std::set<size_t> dead;
  for (size_t k = g.nodes.size(); k-- > 0;) {
    Node& n = g.nodes[k];
    bool used = false;
    for (const auto& o : n.outputs) used = used || (!o.empty() && live.count(o));
    if (!used) {
      dead.insert(k);
      continue;
    }
    for (const auto& in : n.inputs)
      if (!in.empty()) live.insert(in);
    // Sweep the bodies first so that reads by dead inner nodes do not keep outer values alive.
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) {
        if (!*gp) continue;
        auto copy = std::make_shared<Graph>(**gp);
        if (sweep(*copy)) n.attrs.set(an, copy), changed = true;
      } else if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av)) {
        std::vector<GraphPtr> v = *gs;
        bool any = false;
        for (auto& s : v) {
          if (!s) continue;
          auto copy = std::make_shared<Graph>(*s);
          if (sweep(*copy)) s = copy, any = true;
        }
        if (any) n.attrs.set(an, v), changed = true;
      }
    }
    for (const auto& s : node_subgraphs(n))
      for (const auto& r : outer_reads(*s)) live.insert(r);
  }
  if (!dead.empty()) {
    remove_nodes(g, dead);
    changed = true;
  }
  if (remove_unused_initializers(g) > 0) changed = true;
  return changed;
}

class EliminateDeadCode : public Pass {
 public:
  std::string name() const override { return "eliminate_dead_code"; }
  Result<bool> run(Graph& g, const PassOptions&) override { return sweep(g); }
};

}  // namespace

std::unique_ptr<Pass> make_eliminate_dead_code_pass() { return std::make_unique<EliminateDeadCode>(); }

}  // namespace kiln
