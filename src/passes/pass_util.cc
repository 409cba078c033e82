// Shared graph-editing helpers for passes (see pass_util.h for the contracts).
#include "passes/pass_util.h"

#include <algorithm>
#include <cstring>
#include <queue>

#include "ir/shape_inference.h"

namespace kiln {

namespace {

// Returns a rewritten copy of `sub` with outer reads of `from` turned into `to`, or nullptr when `sub` does
// not read `from` from outside. Copy-on-write: graphs shared with other node copies are never mutated.
GraphPtr rename_outer_read(const GraphPtr& sub, const std::string& from, const std::string& to) {
  std::set<std::string> own = names_defined_in(*sub);
  if (own.count(from)) return nullptr;  // shadowed: inner reads mean the inner value
  auto copy = std::make_shared<Graph>(*sub);
  bool changed = false;
  for (Node& n : copy->nodes) {
    for (auto& in : n.inputs)
      if (in == from) in = to, changed = true;
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) {
        if (!*gp) continue;
        if (GraphPtr r = rename_outer_read(*gp, from, to)) n.attrs.set(an, r), changed = true;
      } else if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av)) {
        std::vector<GraphPtr> v = *gs;
        bool any = false;
        for (auto& s : v)
          if (s)
            if (GraphPtr r = rename_outer_read(s, from, to)) s = r, any = true;
        if (any) n.attrs.set(an, v), changed = true;
      }
    }
  }
  for (auto& vi : copy->outputs)
    if (vi.name == from) vi.name = to, changed = true;
  if (changed) {
    auto it = copy->value_types.find(from);
    if (it != copy->value_types.end() && !copy->value_types.count(to)) copy->value_types[to] = it->second;
  }
  return changed ? copy : nullptr;
}

}  // namespace


std::map<std::string, std::vector<Use>> build_use_map(const Graph& g) {
  std::map<std::string, std::vector<Use>> uses;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (size_t j = 0; j < n.inputs.size(); ++j)
      if (!n.inputs[j].empty()) uses[n.inputs[j]].push_back(Use{i, j});
    std::set<std::string> sub_reads;
    for (const auto& s : node_subgraphs(n))
      for (const auto& r : outer_reads(*s)) sub_reads.insert(r);
    for (const auto& r : sub_reads) uses[r].push_back(Use{i, kSubgraphUse});
  }
  return uses;
}

std::vector<Use> consumers(const Graph& g, const std::string& value) {
  std::vector<Use> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (size_t j = 0; j < n.inputs.size(); ++j)
      if (n.inputs[j] == value) out.push_back(Use{i, j});
    for (const auto& s : node_subgraphs(n)) {
      if (outer_reads(*s).count(value)) {
        out.push_back(Use{i, kSubgraphUse});
        break;
      }
    }
  }
  return out;
}

bool is_graph_output(const Graph& g, const std::string& value) {
  for (const auto& vi : g.outputs)
    if (vi.name == value) return true;
  return false;
}

bool has_single_consumer(const Graph& g, const std::string& value) {
  if (value.empty() || is_graph_output(g, value)) return false;
  std::vector<Use> uses = consumers(g, value);
  return uses.size() == 1 && uses[0].input != kSubgraphUse;
}

std::optional<size_t> producer_index(const Graph& g, const std::string& value) {
  if (value.empty()) return std::nullopt;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (o == value) return i;
  return std::nullopt;
}

std::map<std::string, size_t> build_producer_map(const Graph& g) {
  std::map<std::string, size_t> m;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) m[o] = i;
  return m;
}

namespace {
// Rewrites reads of `from` into `to` in node inputs and subgraph outer reads (graph outputs untouched).
void rewire_reads(Graph& g, const std::string& from, const std::string& to) {
  for (Node& n : g.nodes) {
    for (auto& in : n.inputs)
      if (in == from) in = to;
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) {
        if (!*gp) continue;
        if (GraphPtr r = rename_outer_read(*gp, from, to)) n.attrs.set(an, r);
      } else if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av)) {
        std::vector<GraphPtr> v = *gs;
        bool any = false;
        for (auto& s : v)
          if (s)
            if (GraphPtr r = rename_outer_read(s, from, to)) s = r, any = true;
        if (any) n.attrs.set(an, v);
      }
    }
  }
}

bool is_graph_input(const Graph& g, const std::string& value) {
  for (const auto& vi : g.inputs)
    if (vi.name == value) return true;
  return false;
}
}  // namespace

bool replace_all_uses(Graph& g, const std::string& from, const std::string& to) {
  if (from == to) return true;
  if (is_graph_output(g, from)) return false;
  rewire_reads(g, from, to);
  return true;
}

bool replace_value_keep_output(Graph& g, const std::string& old, const std::string& replacement) {
  if (old == replacement) return true;
  if (!is_graph_output(g, old)) return replace_all_uses(g, old, replacement);
  // `old` must keep its name: let the replacement's producer produce `old` directly.
  if (is_graph_output(g, replacement) || is_graph_input(g, replacement) || g.initializers.count(replacement))
    return false;
  std::optional<size_t> p = producer_index(g, replacement);
  if (!p) return false;
  for (auto& o : g.nodes[*p].outputs)
    if (o == replacement) o = old;
  rewire_reads(g, replacement, old);
  // The old producer still lists `old` as an output until the caller removes it; the type follows the value.
  auto it = g.value_types.find(replacement);
  if (it != g.value_types.end()) {
    g.value_types[old] = it->second;
    g.value_types.erase(replacement);
  }
  return true;
}

void remove_nodes(Graph& g, const std::set<size_t>& indices) {
  if (indices.empty()) return;
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  std::set<std::string> dropped;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (indices.count(i)) {
      for (const auto& o : g.nodes[i].outputs)
        if (!o.empty()) dropped.insert(o);
    } else {
      kept.push_back(std::move(g.nodes[i]));
    }
  }
  g.nodes = std::move(kept);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs) dropped.erase(o);
  for (const auto& d : dropped)
    if (!g.initializers.count(d) && !is_graph_input(g, d)) g.value_types.erase(d);
}

const Tensor* constant_value(const Graph& g, const std::string& value) {
  if (value.empty()) return nullptr;
  auto it = g.initializers.find(value);
  if (it == g.initializers.end()) return nullptr;
  // An initializer that is also a graph input is only a default: callers may override it at run time.
  if (is_graph_input(g, value)) return nullptr;
  return &it->second;
}

std::optional<double> scalar_constant(const Graph& g, const std::string& value) {
  const Tensor* t = constant_value(g, value);
  if (!t || t->numel() != 1 || t->dtype() == DType::kString) return std::nullopt;
  return t->as_double(0);
}

std::optional<std::vector<int64_t>> int_constant(const Graph& g, const std::string& value) {
  const Tensor* t = constant_value(g, value);
  if (!t || (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32)) return std::nullopt;
  std::vector<int64_t> v(static_cast<size_t>(t->numel()));
  for (int64_t i = 0; i < t->numel(); ++i) v[static_cast<size_t>(i)] = t->as_int64(i);
  return v;
}

std::optional<std::vector<int64_t>> static_shape(const Graph& g, const std::string& value) {
  const TypeInfo* t = g.type_of(value);
  if (!t || !t->is_tensor() || !t->shape.fully_known()) return std::nullopt;
  return t->shape.concrete();
}

std::optional<std::vector<int64_t>> known_dims(const Graph& g, const std::string& value) {
  const TypeInfo* t = g.type_of(value);
  if (!t || !t->shape.rank_known) return std::nullopt;
  std::vector<int64_t> d;
  for (const Dim& x : t->shape.dims) d.push_back(x.is_known() ? x.value : -1);
  return d;
}

Result<Tensor> permute_tensor(const Tensor& t, const std::vector<int64_t>& perm) {
  const size_t r = t.rank();
  if (perm.size() != r)
    return invalid_argument("perm has " + std::to_string(perm.size()) + " axes; tensor has rank " + std::to_string(r));
  std::vector<bool> seen(r, false);
  for (int64_t a : perm) {
    if (a < 0 || a >= static_cast<int64_t>(r) || seen[static_cast<size_t>(a)]) return invalid_argument("invalid perm");
    seen[static_cast<size_t>(a)] = true;
  }
  const DType dt = t.dtype();
  if (dt == DType::kInt4 || dt == DType::kUInt4 || dt == DType::kFloat4E2M1)
    return unimplemented(std::string("permuting packed ") + dtype_name(dt) + " constants");
  Dims od(r);
  for (size_t d = 0; d < r; ++d) od[d] = t.dim(static_cast<size_t>(perm[d]));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dt, od));
  // Source strides in output-dim order.
  std::vector<int64_t> in_strides(r, 1), src(r);
  for (size_t d = r; d-- > 1;) in_strides[d - 1] = in_strides[d] * t.dim(d);
  for (size_t d = 0; d < r; ++d) src[d] = in_strides[static_cast<size_t>(perm[d])];
  const size_t es = dtype_size(dt);
  std::vector<int64_t> idx(r, 0);
  for (int64_t k = 0; k < out.numel(); ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d) off += idx[d] * src[d];
    if (dt == DType::kString)
      out.strings()[k] = t.strings()[off];
    else
      std::memcpy(static_cast<unsigned char*>(out.raw()) + static_cast<size_t>(k) * es,
                  static_cast<const unsigned char*>(t.raw()) + static_cast<size_t>(off) * es, es);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < od[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Status reinfer_types(Graph& g, const std::set<std::string>& changed) {
  for (const auto& c : changed) g.value_types.erase(c);
  return infer_graph_types(g);
}

Node make_node(Graph& g, OpKind op, const std::string& name_prefix, std::vector<std::string> inputs,
               std::vector<std::string> outputs, const Node* like) {
  Node n;
  n.op = op;
  std::set<std::string> names;
  for (const Node& m : g.nodes) names.insert(m.name);
  do {
    n.name = g.fresh_name(name_prefix);
  } while (names.count(n.name));
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  if (like)
    n.opset = like->opset;
  else {
    auto it = g.opsets.find("");
    if (it == g.opsets.end()) it = g.opsets.find("ai.onnx");
    n.opset = it == g.opsets.end() ? 0 : static_cast<int>(it->second);
  }
  return n;
}

void insert_node(Graph& g, size_t pos, Node n) {
  pos = std::min(pos, g.nodes.size());
  g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(pos), std::move(n));
}

namespace {
void collect_all_reads(const Graph& g, std::set<std::string>& reads) {
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) reads.insert(in);
    for (const auto& s : node_subgraphs(n)) collect_all_reads(*s, reads);
  }
  for (const auto& vi : g.outputs) reads.insert(vi.name);
}
}  // namespace

size_t remove_unused_initializers(Graph& g) {
  std::set<std::string> reads;
  collect_all_reads(g, reads);
  size_t dropped = 0;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (!reads.count(it->first) && !is_graph_input(g, it->first)) {
      g.value_types.erase(it->first);
      it = g.initializers.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

Status topo_sort(Graph& g, const std::set<std::string>& outer_names) {
  std::set<std::string> defined = outer_names;
  for (const auto& [n, t] : g.initializers) defined.insert(n);
  for (const auto& vi : g.inputs) defined.insert(vi.name);
  std::map<std::string, size_t> producer = build_producer_map(g);
  // Node i waits on the producers (in this graph) of its inputs and of its subgraphs' outer reads.
  size_t count = g.nodes.size();
  std::vector<std::vector<size_t>> users(count);
  std::vector<size_t> pending(count, 0);
  for (size_t i = 0; i < count; ++i) {
    std::set<std::string> reads;
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty()) reads.insert(in);
    for (const auto& s : node_subgraphs(g.nodes[i]))
      for (const auto& r : outer_reads(*s)) reads.insert(r);
    std::set<size_t> deps;
    for (const auto& r : reads) {
      auto it = producer.find(r);
      if (it != producer.end())
        deps.insert(it->second);
      else if (!defined.count(r) &&
               g.nodes[i].inputs.end() != std::find(g.nodes[i].inputs.begin(), g.nodes[i].inputs.end(), r))
        return invalid_argument(g.nodes[i].describe() + ": input '" + r + "' is not defined");
    }
    deps.erase(i);
    pending[i] = deps.size();
    for (size_t d : deps) users[d].push_back(i);
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < count; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != count) {
    for (size_t i = 0; i < count; ++i)
      if (pending[i] != 0) return invalid_argument(g.nodes[i].describe() + ": part of a cycle");
  }
  std::vector<Node> sorted;
  sorted.reserve(count);
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  return ok_status();
}

}  // namespace kiln
