// fold_shape_dims: shape subgraphs of models with a dynamic dimension (torch's `x.view(x.size(0), ...)` exports
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape) collapse where their result does not depend on the dynamic
// dims: Gather(Shape(x), k) of a static dim of x becomes a constant, and a Reshape whose target is a Concat of
// constants and dims of tensors gets a constant target, a dynamic dim written as 0 ("copy the input's dim") where the
// Reshape's own input has that dim at the same position (the same tensor at the same axis, or the same symbolic dim).
// fold_constants folds what this makes constant; eliminate_dead_code drops the subgraphs left unread.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

// One element of a shape vector: a constant, or dim `axis` of tensor `of`.
struct ShapeEntry {
  std::optional<int64_t> value;
  std::string of;
  int64_t axis = -1;
};

// Dims of `x` (rank known), or nullopt.
const std::vector<Dim>* dims_of(const Graph& g, const std::string& x) {
  const TypeInfo* t = g.type_of(x);
  if (!t || !t->is_tensor() || !t->shape.rank_known) return nullptr;
  return &t->shape.dims;
}

// The entries Shape(x) (start/end attributes) yields, or nullopt when x's rank is unknown.
std::optional<std::vector<ShapeEntry>> shape_entries(const Graph& g, const Node& shape) {
  if (shape.op != OpKind::kShape || !shape.has_input(0)) return std::nullopt;
  const std::vector<Dim>* d = dims_of(g, shape.inputs[0]);
  if (!d) return std::nullopt;
  const int64_t r = static_cast<int64_t>(d->size());
  auto clamp = [r](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + r : a, 0, r); };
  const int64_t start = clamp(shape.attrs.get_int("start", 0));
  const int64_t end = shape.attrs.has("end") ? clamp(shape.attrs.get_int("end", r)) : r;
  std::vector<ShapeEntry> out;
  for (int64_t a = start; a < end; ++a) {
    ShapeEntry e{std::nullopt, shape.inputs[0], a};
    if ((*d)[static_cast<size_t>(a)].is_known()) e.value = (*d)[static_cast<size_t>(a)].value;
    out.push_back(e);
  }
  return out;
}

// Gather(Shape(x), constant indices) on axis 0: the picked entries (indices flattened), or nullopt.
std::optional<std::vector<ShapeEntry>> gathered_entries(const Graph& g, const std::map<std::string, size_t>& producers,
                                                        const Node& gather) {
  if (gather.op != OpKind::kGather || !gather.has_input(1) || gather.attrs.get_int("axis", 0) != 0) return std::nullopt;
  auto p = producers.find(gather.inputs[0]);
  if (p == producers.end()) return std::nullopt;
  auto all = shape_entries(g, g.nodes[p->second]);
  auto idx = int_constant(g, gather.inputs[1]);
  if (!all || !idx) return std::nullopt;
  const int64_t n = static_cast<int64_t>(all->size());
  std::vector<ShapeEntry> out;
  for (int64_t k : *idx) {
    if (k < 0) k += n;
    if (k < 0 || k >= n) return std::nullopt;
    out.push_back((*all)[static_cast<size_t>(k)]);
  }
  return out;
}

// The entries of a 1-D shape vector `v`: a constant, Shape(x), Gather(Shape(x), k), Unsqueeze of a scalar one of
// those, or a Concat of such; nullopt for anything else.
std::optional<std::vector<ShapeEntry>> entries_of(const Graph& g, const std::map<std::string, size_t>& producers,
                                                  const std::string& v, int depth = 0) {
  if (auto c = int_constant(g, v)) {
    std::vector<ShapeEntry> out;
    for (int64_t x : *c) out.push_back(ShapeEntry{x, {}, -1});
    return out;
  }
  auto p = producers.find(v);
  if (p == producers.end() || depth > 4) return std::nullopt;
  const Node& n = g.nodes[p->second];
  switch (n.op) {
    case OpKind::kShape:
      return shape_entries(g, n);
    case OpKind::kGather:
      return gathered_entries(g, producers, n);
    case OpKind::kUnsqueeze: {  // a scalar made 1-D
      const TypeInfo* t = g.type_of(n.inputs[0]);
      if (!t || !t->is_tensor() || !t->shape.rank_known || !t->shape.dims.empty()) return std::nullopt;
      return entries_of(g, producers, n.inputs[0], depth + 1);
    }
    case OpKind::kConcat: {
      if (n.attrs.get_int("axis", 0) != 0 && n.attrs.get_int("axis", 0) != -1) return std::nullopt;
      std::vector<ShapeEntry> out;
      for (const auto& in : n.inputs) {
        auto part = entries_of(g, producers, in, depth + 1);
        if (!part) return std::nullopt;
        out.insert(out.end(), part->begin(), part->end());
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

// Gather(Shape(x), k) whose picked dims are all static -> a constant. Returns whether anything changed.
bool fold_static_gathers(Graph& g) {
  const auto producers = build_producer_map(g);
  bool changed = false;
  std::vector<size_t> drop;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != OpKind::kGather || !n.has_output(0) || is_graph_output(g, n.outputs[0])) continue;
    auto e = gathered_entries(g, producers, n);
    if (!e) continue;
    std::vector<int64_t> vals;
    for (const auto& x : *e)
      if (x.value) vals.push_back(*x.value);
    if (vals.size() != e->size()) continue;
    const TypeInfo* idx_t = g.type_of(n.inputs[1]);
    const TypeInfo* data_t = g.type_of(n.inputs[0]);
    if (!idx_t || !idx_t->shape.rank_known || !data_t || data_t->dtype != DType::kInt64) continue;
    Dims dims;
    for (const Dim& d : idx_t->shape.dims) dims.push_back(d.value);  // constant indices: static
    g.initializers[n.outputs[0]] = Tensor::from_vector<int64_t>(DType::kInt64, dims, vals);
    g.value_types[n.outputs[0]] = TypeInfo::tensor(DType::kInt64, Shape::of(dims));
    drop.push_back(i);
    changed = true;
  }
  for (auto it = drop.rbegin(); it != drop.rend(); ++it) g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(*it));
  return changed;
}

// A Reshape whose target is made of constants and tensor dims -> a constant target. Returns whether anything changed.
bool constant_reshape_targets(Graph& g) {
  const auto producers = build_producer_map(g);
  bool changed = false;
  for (Node& n : g.nodes) {
    if (n.op != OpKind::kReshape || !n.has_input(1) || int_constant(g, n.inputs[1])) continue;
    auto entries = entries_of(g, producers, n.inputs[1]);
    if (!entries || entries->empty()) continue;
    const bool allowzero = n.attrs.get_int("allowzero", 0) != 0;
    const std::vector<Dim>* data = dims_of(g, n.inputs[0]);
    std::vector<int64_t> target;
    for (size_t j = 0; j < entries->size(); ++j) {
      const ShapeEntry& e = (*entries)[j];
      if (e.value) {
        target.push_back(*e.value);
        continue;
      }
      // Dim e.axis of e.of: 0 copies the data input's dim j, when that is the same dim.
      bool same = e.of == n.inputs[0] && e.axis == static_cast<int64_t>(j);
      if (!same && data && j < data->size()) {
        const std::vector<Dim>* src = dims_of(g, e.of);
        const std::string& sym = (*data)[j].symbol;
        same = src && !sym.empty() && (*src)[static_cast<size_t>(e.axis)].symbol == sym;
      }
      if (!same || allowzero) break;
      target.push_back(0);
    }
    if (target.size() != entries->size()) continue;
    const std::string name = n.outputs[0] + "__target";
    if (g.initializers.count(name) || g.type_of(name)) continue;
    const Dims dims{static_cast<int64_t>(target.size())};
    g.initializers[name] = Tensor::from_vector<int64_t>(DType::kInt64, dims, target);
    g.value_types[name] = TypeInfo::tensor(DType::kInt64, Shape::of(dims));
    n.inputs[1] = name;
    changed = true;
  }
  return changed;
}

class FoldShapeDims : public Pass {
 public:
  std::string name() const override { return "fold_shape_dims"; }
  Result<bool> run(Graph& g, const PassOptions& o) override {
    bool any = false;
    auto fold = make_fold_constants_pass();
    // Each round may make the next Reshape's input dims known (a chain of channel shuffles settles one Reshape per
    // round); a round that changes nothing ends it.
    for (size_t round = 0; round <= g.nodes.size(); ++round) {
      bool changed = fold_static_gathers(g);
      if (changed) {
        auto folded = fold->run(g, o);
        if (!folded.ok()) return folded.status();
      }
      changed = constant_reshape_targets(g) || changed;
      if (!changed) break;
      any = true;
      Status st = reinfer_types(g);
      (void)st;  // as fold_constants: inference only refines here
    }
    return any;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_shape_dims_pass() { return std::make_unique<FoldShapeDims>(); }

}  // namespace kiln
