// fold_constants: evaluates nodes whose inputs are all constants with the reference kernels and turns their
// outputs into initializers; Shape/Size of statically shaped values fold too, so shape subgraphs collapse.
#include <memory>
#include <set>

#include "passes/pass.h"
#include "passes/pass_util.h"
#include "passes/reference_eval.h"

namespace kiln {

namespace {

// Folded outputs larger than this stay computed at run time (they would bloat the engine file).
constexpr size_t kMaxFoldedBytes = size_t{64} << 20;
// When an output's size is not known before running, fold only if the inputs are this small in total.
constexpr size_t kMaxUnknownShapeInputBytes = size_t{1} << 20;

bool foldable_op(const Node& n) {
  switch (n.op) {
    case OpKind::kRandomNormal:
    case OpKind::kRandomNormalLike:
    case OpKind::kRandomUniform:
    case OpKind::kRandomUniformLike:
    case OpKind::kBernoulli:
    case OpKind::kMultinomial:
      return false;
    default:
      // Control flow (If/Loop/Scan...) carries subgraphs that may read runtime values or have effects.
      return node_subgraphs(n).empty();
  }
}

int64_t clamp_axis(int64_t a, int64_t r) {
  if (a < 0) a += r;
  return a < 0 ? 0 : (a > r ? r : a);
}

// Shape/Size of a value whose static shape is fully known: the result without running anything.
std::optional<Tensor> fold_shape_query(const Graph& g, const Node& n) {
  if (!n.has_input(0)) return std::nullopt;
  auto dims = static_shape(g, n.inputs[0]);
  if (!dims) return std::nullopt;
  const int64_t r = static_cast<int64_t>(dims->size());
  if (n.op == OpKind::kShape) {
    int64_t start = clamp_axis(n.attrs.get_int("start", 0), r);
    int64_t end = n.attrs.has("end") ? clamp_axis(n.attrs.get_int("end", r), r) : r;
    std::vector<int64_t> v;
    for (int64_t i = start; i < end; ++i) v.push_back((*dims)[static_cast<size_t>(i)]);
    return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
  }
  int64_t numel = 1;
  for (int64_t d : *dims) numel *= d;
  return Tensor::scalar<int64_t>(DType::kInt64, numel);
}

// Bytes of every requested output when their inferred types say so; nullopt when some shape is not static.
std::optional<size_t> predicted_output_bytes(const Graph& g, const Node& n) {
  size_t total = 0;
  for (const auto& o : n.outputs) {
    if (o.empty()) continue;
    const TypeInfo* t = g.type_of(o);
    if (!t || !t->is_tensor() || t->dtype == DType::kUndefined || t->dtype == DType::kString || !t->shape.fully_known())
      return std::nullopt;
    size_t numel = 1;
    for (int64_t d : t->shape.concrete()) numel *= static_cast<size_t>(d);
    total += numel * dtype_size(t->dtype);
  }
  return total;
}

class FoldConstants : public Pass {
 public:
  std::string name() const override { return "fold_constants"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    std::set<size_t> folded;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      const Node& n = g.nodes[k];
      if (!foldable_op(n) || n.outputs.empty()) continue;
      bool any_output = false, output_is_graph_output = false;
      for (const auto& o : n.outputs) {
        any_output = any_output || !o.empty();
        output_is_graph_output = output_is_graph_output || (!o.empty() && is_graph_output(g, o));
      }
      // Graph outputs stay computed by a node: backends expect outputs to be produced, not stored.
      if (!any_output || output_is_graph_output) continue;

      std::vector<Tensor> results;
      if ((n.op == OpKind::kShape || n.op == OpKind::kSize) && n.outputs.size() == 1) {
        if (auto t = fold_shape_query(g, n)) results.push_back(*t);
      }
      if (results.empty()) {
        std::optional<std::vector<Tensor>> r = evaluate(g, n);
        if (!r) continue;
        results = std::move(*r);
      }
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        if (n.outputs[i].empty()) continue;
        g.initializers[n.outputs[i]] = results[i];
        g.value_types[n.outputs[i]] = TypeInfo::tensor(results[i].dtype(), Shape::of(results[i].dims()));
      }
      folded.insert(k);
    }
    if (folded.empty()) return false;
    // Remove the folded nodes without dropping the types of their outputs (initializers now).
    std::vector<Node> kept;
    for (size_t k = 0; k < g.nodes.size(); ++k)
      if (!folded.count(k)) kept.push_back(std::move(g.nodes[k]));
    g.nodes = std::move(kept);
    remove_unused_initializers(g);
    // Constants downstream (e.g. Reshape targets) let inference say more about later values. This only refines:
    // the types set above and those inferred before stay valid, so a failure here (an op whose inference is
    // stricter with constant inputs; the node will report it at run time) leaves them as they are.
    Status refined = reinfer_types(g);
    (void)refined;
    return true;
  }

 private:
  // Runs node `n` on its constant inputs. nullopt when an input is not constant, the result would be too large
  // or is not a plain tensor, or the kernel rejects the inputs (then the node fails at run time as before).
  static std::optional<std::vector<Tensor>> evaluate(const Graph& g, const Node& n) {
    std::vector<const Tensor*> inputs;
    inputs.reserve(n.inputs.size());
    size_t input_bytes = 0;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      const Tensor* t = constant_value(g, in);
      if (!t) return std::nullopt;
      input_bytes += t->nbytes();
      inputs.push_back(t);
    }
    std::optional<size_t> predicted = predicted_output_bytes(g, n);
    if (predicted ? *predicted > kMaxFoldedBytes : input_bytes > kMaxUnknownShapeInputBytes) return std::nullopt;
    std::optional<std::vector<Tensor>> out = run_reference_node(n, inputs);
    if (!out) return std::nullopt;
    size_t total = 0;
    for (const Tensor& t : *out) total += t.defined() ? t.nbytes() : 0;
    if (total > kMaxFoldedBytes) return std::nullopt;
    return out;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_constants_pass() { return std::make_unique<FoldConstants>(); }

}  // namespace kiln
