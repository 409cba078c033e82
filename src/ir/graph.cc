// Graph helpers and the verifier.
#include "ir/graph.h"

namespace kiln {

std::string Node::describe() const {
  return "node '" + name + "' (" + op_name(op) + ")";
}

const TypeInfo* Graph::type_of(const std::string& value) const {
  auto it = value_types.find(value);
  return it == value_types.end() ? nullptr : &it->second;
}

std::string Graph::fresh_name(const std::string& prefix) {
  for (;;) {
    std::string n = prefix + "__k" + std::to_string(fresh_counter_++);
    if (!initializers.count(n) && !value_types.count(n)) return n;
  }
}

std::string Graph::add_constant(const std::string& prefix, Tensor t) {
  std::string n = fresh_name(prefix);
  value_types[n] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
  initializers[n] = std::move(t);
  return n;
}

Status verify_graph(const Graph& g, const std::set<std::string>& outer_names) {
  std::set<std::string> defined = outer_names;
  std::set<std::string> produced_here;
  auto define = [&](const std::string& n, const std::string& what) -> Status {
    if (produced_here.count(n)) return invalid_argument("graph '" + g.name + "': value '" + n + "' defined twice (" + what + ")");
    produced_here.insert(n);
    defined.insert(n);
    return ok_status();
  };
  for (const auto& [n, t] : g.initializers) KILN_RETURN_IF_ERROR(define(n, "initializer"));
  for (const auto& vi : g.inputs) {
    if (g.initializers.count(vi.name)) continue;  // an input with a default initializer
    KILN_RETURN_IF_ERROR(define(vi.name, "graph input"));
  }
  std::set<std::string> node_names;
  for (const Node& n : g.nodes) {
    if (n.op == OpKind::kInvalid) return invalid_argument("graph '" + g.name + "': node '" + n.name + "' has no op");
    if (!node_names.insert(n.name).second)
      return invalid_argument("graph '" + g.name + "': duplicate node name '" + n.name + "'");
    for (const auto& in : n.inputs) {
      if (!in.empty() && !defined.count(in))
        return invalid_argument(n.describe() + ": input '" + in + "' is not defined before use");
    }
    for (const auto& [an, av] : n.attrs.all()) {
      std::vector<GraphPtr> subs;
      if (auto* gp = std::get_if<GraphPtr>(&av)) subs.push_back(*gp);
      if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av)) subs = *gs;
      for (const auto& sub : subs) {
        if (!sub) return invalid_argument(n.describe() + ": attribute '" + an + "' has a null subgraph");
        Status st = verify_graph(*sub, defined);
        if (!st.ok()) return st.with_context(n.describe() + " subgraph '" + an + "'");
      }
    }
    for (const auto& out : n.outputs)
      if (!out.empty()) KILN_RETURN_IF_ERROR(define(out, n.describe() + " output"));
  }
  for (const auto& vi : g.outputs)
    if (!defined.count(vi.name)) return invalid_argument("graph '" + g.name + "': output '" + vi.name + "' is never produced");
  return ok_status();
}

namespace {
std::string attr_to_string(const AttrValue& v, int indent) {
  struct Visitor {
    int indent;
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(float x) const { return std::to_string(x); }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const Tensor& t) const { return std::string("tensor<") + dtype_name(t.dtype()) + "," + dims_to_string(t.dims()) + ">"; }
    std::string operator()(const GraphPtr& g) const { return "{\n" + print_graph(*g, indent + 4) + std::string(indent + 2, ' ') + "}"; }
    std::string operator()(const std::vector<int64_t>& xs) const {
      std::string s = "[";
      for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
      return s + "]";
    }
    std::string operator()(const std::vector<float>& xs) const {
      std::string s = "[";
      for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
      return s + "]";
    }
    std::string operator()(const std::vector<std::string>& xs) const {
      std::string s = "[";
      for (size_t i = 0; i < xs.size(); ++i) s += (i ? ",\"" : "\"") + xs[i] + "\"";
      return s + "]";
    }
    std::string operator()(const std::vector<Tensor>& xs) const { return "<" + std::to_string(xs.size()) + " tensors>"; }
    std::string operator()(const std::vector<GraphPtr>& xs) const { return "<" + std::to_string(xs.size()) + " graphs>"; }
  };
  return std::visit(Visitor{indent}, v);
}
}  // namespace

std::string print_graph(const Graph& g, int indent) {
  std::string pad(indent, ' ');
  std::string s;
  auto typed = [&](const std::string& n) {
    const TypeInfo* t = g.type_of(n);
    return t ? n + ": " + t->to_string() : n;
  };
  s += pad + "graph " + g.name + "(";
  for (size_t i = 0; i < g.inputs.size(); ++i) s += (i ? ", " : "") + typed(g.inputs[i].name);
  s += ") -> (";
  for (size_t i = 0; i < g.outputs.size(); ++i) s += (i ? ", " : "") + typed(g.outputs[i].name);
  s += ")\n";
  for (const auto& [n, t] : g.initializers)
    s += pad + "  const " + n + ": " + dtype_name(t.dtype()) + "[" + dims_to_string(t.dims()) + "]\n";
  for (const Node& n : g.nodes) {
    s += pad + "  ";
    for (size_t i = 0; i < n.outputs.size(); ++i) s += (i ? ", " : "") + typed(n.outputs[i]);
    s += std::string(" = ") + op_name(n.op) + "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) s += (i ? ", " : "") + n.inputs[i];
    s += ")";
    if (!n.attrs.all().empty()) {
      s += " {";
      bool first = true;
      for (const auto& [an, av] : n.attrs.all()) {
        s += (first ? "" : ", ") + an + "=" + attr_to_string(av, indent);
        first = false;
      }
      s += "}";
    }
    s += "  # " + n.name + "\n";
  }
  return s;
}

std::vector<GraphPtr> node_subgraphs(const Node& n) {
  std::vector<GraphPtr> subs;
  for (const auto& [an, av] : n.attrs.all()) {
    if (auto* gp = std::get_if<GraphPtr>(&av)) {
      if (*gp) subs.push_back(*gp);
    } else if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av)) {
      for (const auto& s : *gs)
        if (s) subs.push_back(s);
    }
  }
  return subs;
}

std::set<std::string> names_defined_in(const Graph& sub) {
  std::set<std::string> d;
  for (const auto& vi : sub.inputs) d.insert(vi.name);
  for (const auto& [n, t] : sub.initializers) d.insert(n);
  for (const Node& n : sub.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) d.insert(o);
  return d;
}

namespace {

void collect_outer_reads(const Graph& sub, const std::set<std::string>& visible_outside, std::set<std::string>& out) {
  std::set<std::string> own = names_defined_in(sub);
  auto note = [&](const std::string& name) {
    if (!name.empty() && !own.count(name)) out.insert(name);
  };
  for (const Node& n : sub.nodes) {
    for (const auto& in : n.inputs) note(in);
    for (const auto& s : node_subgraphs(n)) {
      std::set<std::string> inner;
      collect_outer_reads(*s, {}, inner);
      for (const auto& r : inner) note(r);
    }
  }
  for (const auto& vi : sub.outputs) note(vi.name);
}

}  // namespace

std::set<std::string> outer_reads(const Graph& sub) {
  std::set<std::string> out;
  collect_outer_reads(sub, {}, out);
  return out;
}


}  // namespace kiln
