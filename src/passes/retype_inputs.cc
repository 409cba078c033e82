// Build-time input retyping: the engine input takes a narrower dtype and a Cast restores the model's own.
#include "passes/retype_inputs.h"

#include <algorithm>
#include <set>

#include "passes/pass_util.h"

namespace kiln {

namespace {

bool retypable_source(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}
bool retypable_target(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kUInt8;
}

// Every value of `from` is exactly representable in `to`.
bool widens_exactly(DType from, DType to) {
  if (from == to) return true;
  switch (from) {
    case DType::kUInt8: return is_float(to) && to != DType::kFloat8E4M3FN && to != DType::kFloat8E5M2 &&
                               to != DType::kFloat8E4M3FNUZ && to != DType::kFloat8E5M2FNUZ &&
                               to != DType::kFloat4E2M1 && to != DType::kFloat8E8M0;
    case DType::kFloat16: return to == DType::kFloat32 || to == DType::kFloat64;
    case DType::kBFloat16: return to == DType::kFloat32 || to == DType::kFloat64;
    case DType::kFloat32: return to == DType::kFloat64;
    default: return false;
  }
}

bool graph_reads(const Graph& g, const std::string& name);

// Whether a subgraph held in one of n's attributes reads `name` (at any depth).
bool subgraphs_read(const Node& n, const std::string& name) {
  for (const auto& [key, value] : n.attrs.all()) {
    if (const auto* sub = std::get_if<GraphPtr>(&value); sub && *sub && graph_reads(**sub, name)) return true;
    if (const auto* subs = std::get_if<std::vector<GraphPtr>>(&value))
      for (const auto& s : *subs)
        if (s && graph_reads(*s, name)) return true;
  }
  return false;
}

// Whether any node of `g`, or of its subgraphs, reads `name`.
bool graph_reads(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (std::find(n.inputs.begin(), n.inputs.end(), name) != n.inputs.end() || subgraphs_read(n, name)) return true;
  return false;
}

// Whether a subgraph of any node of the top-level graph reads `name` from its enclosing scope.
bool any_subgraph_reads(const Graph& g, const std::string& name) {
  return std::any_of(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return subgraphs_read(n, name); });
}

}  // namespace

Status parse_input_dtype(const std::string& text, std::map<std::string, DType>* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return invalid_argument("--input-dtype '" + text + "': expected NAME:TYPE (TYPE fp32, fp16, bf16 or uint8)");
  DType t;
  const std::string type = text.substr(colon + 1);
  if (!dtype_from_name(type, &t) || !retypable_target(t))
    return invalid_argument("--input-dtype '" + text + "': type '" + type + "' is not one of fp32, fp16, bf16, uint8");
  (*out)[text.substr(0, colon)] = t;
  return ok_status();
}

Status retype_inputs(Graph& g, const std::map<std::string, DType>& want) {
  if (want.empty()) return ok_status();
  std::set<std::string> changed;
  for (const auto& entry : want) {
    const std::string& name = entry.first;  // named, not a structured binding: lambdas below capture it
    const DType to = entry.second;
    auto vi = std::find_if(g.inputs.begin(), g.inputs.end(), [&](const ValueInfo& v) { return v.name == name; });
    if (vi == g.inputs.end()) {
      std::string names;
      for (const auto& v : g.inputs) names += (names.empty() ? "" : ", ") + v.name;
      return invalid_argument("input dtype override: the model has no input '" + name + "' (inputs: " + names + ")");
    }
    const DType from = vi->type.dtype;
    if (!retypable_target(to))
      return invalid_argument("input dtype override for '" + name + "': " + dtype_name(to) +
                              " is not one of float32, float16, bfloat16, uint8");
    if (from == to) continue;
    if (!vi->type.is_tensor() || !retypable_source(from))
      return invalid_argument("input dtype override for '" + name + "': the model's input is " +
                              dtype_name(from) + "; only floating-point inputs can be retyped");
    for (const auto& o : g.outputs)
      if (o.name == name)
        return invalid_argument("input dtype override for '" + name + "': the input is also a graph output");
    if (any_subgraph_reads(g, name))
      return invalid_argument("input dtype override for '" + name + "': the input is read inside a subgraph");

    // x (new dtype) -> Cast -> m (model dtype) -> former readers of x.
    const std::string m = g.fresh_name(name + "_as_" + dtype_name(from));
    for (Node& n : g.nodes)
      std::replace(n.inputs.begin(), n.inputs.end(), name, m);
    g.value_types[m] = TypeInfo::tensor(from, vi->type.shape);
    vi->type.dtype = to;
    g.value_types[name] = vi->type;
    changed.insert(name);
    Node cast = make_node(g, OpKind::kCast, "input_cast", {name}, {m});
    cast.attrs.set("to", static_cast<int64_t>(from));
    insert_node(g, 0, std::move(cast));

    // Fold reader Casts of m: exact widening means Cast(m, t) == Cast(x, t); a Cast back to x's own dtype is x.
    if (!widens_exactly(to, from)) continue;
    std::set<std::string> graph_outputs;
    for (const auto& o : g.outputs) graph_outputs.insert(o.name);
    std::map<std::string, std::string> rename;  // dropped identity Cast outputs -> x
    std::vector<size_t> drop;
    for (size_t i = 1; i < g.nodes.size(); ++i) {
      Node& n = g.nodes[i];
      if (n.op != OpKind::kCast || n.inputs.size() != 1 || n.inputs[0] != m) continue;
      DType target;
      if (!dtype_from_int(n.attrs.get_int("to", -1), &target)) continue;
      n.inputs[0] = name;
      if (target == to && n.outputs.size() == 1 && !graph_outputs.count(n.outputs[0]) &&
          !any_subgraph_reads(g, n.outputs[0])) {
        rename[n.outputs[0]] = name;
        drop.push_back(i);
      }
    }
    for (auto it = drop.rbegin(); it != drop.rend(); ++it) g.nodes.erase(g.nodes.begin() + static_cast<long>(*it));
    for (Node& n : g.nodes)
      for (auto& in : n.inputs)
        if (auto r = rename.find(in); r != rename.end()) in = r->second;
    // The Cast to the model dtype goes when nothing reads m any more.
    bool m_read = false;
    for (const Node& n : g.nodes) m_read |= std::find(n.inputs.begin(), n.inputs.end(), m) != n.inputs.end();
    if (!m_read) {
      g.nodes.erase(std::remove_if(g.nodes.begin(), g.nodes.end(),
                                   [&](const Node& n) { return n.outputs.size() == 1 && n.outputs[0] == m; }),
                    g.nodes.end());
      g.value_types.erase(m);
    }
  }
  KILN_RETURN_IF_ERROR(reinfer_types(g, changed).with_context("input dtype override"));
  return verify_graph(g).with_context("input dtype override");
}

}  // namespace kiln
