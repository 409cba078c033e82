// Graph interpreter.
#include "runtime/executor.h"

#include <unordered_set>

namespace kiln {

const Value* Scope::find(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return &it->second;
  return parent_ ? parent_->find(name) : nullptr;
}

namespace {

// Index of the last node that reads each value of this graph (or one of its subgraphs).
void collect_reads(const Graph& g, std::unordered_set<std::string>* names) {
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs) names->insert(in);
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) collect_reads(**gp, names);
      if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av))
        for (const auto& s : *gs) collect_reads(*s, names);
    }
  }
  for (const auto& o : g.outputs) names->insert(o.name);
}

std::unordered_map<std::string, size_t> last_uses(const Graph& g) {
  std::unordered_map<std::string, size_t> last;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    std::unordered_set<std::string> reads;
    const Node& n = g.nodes[i];
    for (const auto& in : n.inputs) reads.insert(in);
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) collect_reads(**gp, &reads);
      if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av))
        for (const auto& s : *gs) collect_reads(*s, &reads);
    }
    for (const auto& r : reads) last[r] = i;
  }
  for (const auto& o : g.outputs) last[o.name] = g.nodes.size();  // never freed
  return last;
}

}  // namespace

Result<std::vector<Value>> execute_graph(const Graph& g, const KernelRegistry& kernels, Scope& scope,
                                         const ExecOptions& options) {
  for (const auto& [name, t] : g.initializers) {
    bool is_overridable_input = false;
    for (const auto& vi : g.inputs) is_overridable_input |= vi.name == name;
    if (!is_overridable_input || !scope.find(name)) scope.set(name, Value::of(t));
  }
  auto last = last_uses(g);
  std::unordered_set<std::string> own_values;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    KernelFn fn = kernels.find(node.op);
    if (!fn) return unimplemented(node.describe() + ": op is not supported by this backend");
    std::vector<const Value*> ins;
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      const Value* v = scope.find(in);
      if (!v) return internal_error(node.describe() + ": input '" + in + "' has no value");
      ins.push_back(v);
    }
    SubgraphRunner runner = [&](const Graph& body, const std::vector<Value>& inputs) -> Result<std::vector<Value>> {
      Scope child(&scope);
      for (size_t k = 0; k < body.inputs.size() && k < inputs.size(); ++k) child.set(body.inputs[k].name, inputs[k]);
      return execute_graph(body, kernels, child, options);
    };
    KernelContext ctx(node, std::move(ins), runner);
    Status st = fn(ctx);
    if (!st.ok()) {
      if (st.message().find(node.name) == std::string::npos) return st.with_context(node.describe());
      return st;
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      const Value& v = ctx.outputs()[k];
      if (v.kind == ValueKind::kTensor && !v.tensor.defined())
        return internal_error(node.describe() + ": kernel did not produce output " + std::to_string(k));
    }
    if (options.on_node_done) options.on_node_done(node, ctx.outputs());
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      scope.set(node.outputs[k], std::move(ctx.outputs()[k]));
      own_values.insert(node.outputs[k]);
    }
    // Free values of this graph whose last reader was this node.
    for (const auto& in : node.inputs) {
      if (in.empty() || !own_values.count(in)) continue;
      auto it = last.find(in);
      if (it != last.end() && it->second == i) {
        scope.erase(in);
        own_values.erase(in);
      }
    }
  }
  std::vector<Value> outs;
  for (const auto& o : g.outputs) {
    const Value* v = scope.find(o.name);
    if (!v) return internal_error("graph '" + g.name + "': output '" + o.name + "' was not produced");
    outs.push_back(*v);
  }
  return outs;
}

}  // namespace kiln
