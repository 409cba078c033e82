// The key path of an attention block: K [.., T, D] recovered from the Kt [.., D, T] operand of the scores MatMul.
// A Transpose counts by what it does (its perm with the last two entries swapped gives K), a Reshape that only
// regroups the leading axes is moved below it (the dynamo exporter's Reshape -> Transpose(0,2,1) -> Reshape), and
// scalar factors on the way are collected. Anything else: K = Transpose(Kt) swapping the last two axes.
#include <utility>

#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

constexpr int kMaxStrip = 8;

// Follows build-time scalar factors back from `v` (readers elsewhere keep the scaling nodes alive).
std::string strip_scalars(const Graph& g, const GraphIndex& idx, std::string v, double* factor) {
  for (int i = 0; i < kMaxStrip; ++i) {
    const Node* n = idx.producer(v);
    auto s = n ? scalar_scaling(g, idx, *n) : std::nullopt;
    if (!s) break;
    *factor *= s->factor;
    v = s->other;
  }
  return v;
}

bool same_dim_or_equal(const Dim& a, const Dim& b) { return fuse::same_dim(a, b); }

// K from `kt` by a Transpose or a leading-axes Reshape over one; nullopt when neither applies. `depth` bounds the
// Reshape recursion.
std::optional<KeyPath> peel(const Graph& g, const GraphIndex& idx, const std::string& kt, int depth) {
  const Node* n = idx.producer(kt);
  const std::vector<Dim> kt_dims = dims_of(g, kt);
  if (!n || n->inputs.empty() || n->outputs.size() != 1 || kt_dims.size() < 2) return std::nullopt;
  const size_t r = kt_dims.size();
  KeyPath p;
  if (n->op == OpKind::kTranspose) {
    std::vector<int64_t> perm = n->attrs.get_ints("perm");
    if (perm.empty())  // the default reverses the axes
      for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
    if (perm.size() != r) return std::nullopt;
    std::swap(perm[r - 2], perm[r - 1]);
    bool identity = true;
    for (size_t i = 0; i < r; ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
    p.base = strip_scalars(g, idx, n->inputs[0], &p.factor);
    if (!identity) p.steps.push_back(KeyStep{true, perm});
    return p;
  }
  if (n->op == OpKind::kReshape && depth == 0 && n->has_input(1)) {
    // Kt = Reshape(Y, shape) with Y [.., D, T] keeping the last two axes: K = Reshape(untranspose(Y), shape with
    // its last two entries swapped).
    auto shape = int_constant(g, n->inputs[1]);
    const std::vector<Dim> y_dims = dims_of(g, n->inputs[0]);
    if (!shape || shape->size() != r || y_dims.size() < 2) return std::nullopt;
    for (int64_t s : *shape)
      if (s == 0) return std::nullopt;  // "copy the input dim" would read another axis once swapped
    const size_t ry = y_dims.size();
    if (!same_dim_or_equal(y_dims[ry - 2], kt_dims[r - 2]) || !same_dim_or_equal(y_dims[ry - 1], kt_dims[r - 1]))
      return std::nullopt;
    auto inner = peel(g, idx, strip_scalars(g, idx, n->inputs[0], &p.factor), depth + 1);
    if (!inner) return std::nullopt;
    std::vector<int64_t> swapped = *shape;
    std::swap(swapped[r - 2], swapped[r - 1]);
    p.factor *= inner->factor;
    p.base = inner->base;
    p.steps = inner->steps;
    p.steps.push_back(KeyStep{false, swapped});
    return p;
  }
  return std::nullopt;
}

// K = Reshape(base) where base itself comes from reshapes: reshape their input instead; no step at all when the
// base already has K's static dims.
void collapse_reshapes(const Graph& g, const GraphIndex& idx, KeyPath* p) {
  if (p->steps.size() != 1 || p->steps[0].transpose) return;
  for (int i = 0; i < kMaxStrip; ++i) {
    const Node* n = idx.producer(p->base);
    if (!n || !is_reshape_like(n->op) || n->inputs.empty() || n->outputs.size() != 1) break;
    p->base = n->inputs[0];
  }
  const std::vector<Dim> b = dims_of(g, p->base);
  if (b.size() != p->dims.size()) return;
  for (size_t i = 0; i < b.size(); ++i)
    if (!b[i].is_known() || !p->dims[i].is_known() || b[i].value != p->dims[i].value) return;
  p->steps.clear();
}

}  // namespace

std::optional<KeyPath> untranspose_keys(const Graph& g, const GraphIndex& idx, const std::string& kt) {
  std::vector<Dim> dims = dims_of(g, kt);
  if (dims.size() < 2) return std::nullopt;
  std::swap(dims[dims.size() - 2], dims[dims.size() - 1]);
  double factor = 1.0;
  const std::string stripped = strip_scalars(g, idx, kt, &factor);
  auto p = peel(g, idx, stripped, 0);
  if (!p) {  // the fallback: swap the last two axes of whatever Kt is
    p = KeyPath{};
    p->base = stripped;
    std::vector<int64_t> perm;
    for (size_t i = 0; i < dims.size(); ++i) perm.push_back(static_cast<int64_t>(i));
    std::swap(perm[dims.size() - 2], perm[dims.size() - 1]);
    p->steps.push_back(KeyStep{true, perm});
  }
  p->factor *= factor;
  p->dims = dims;
  collapse_reshapes(g, idx, &*p);
  return p;
}

}  // namespace kiln::attn
