// Build-time scalars for the attention matcher: constants and arithmetic on static dims of shapes, so that the
// 1/sqrt(sqrt(head_dim)) exporters compute from Shape(q) counts as a scale even when the batch dim is dynamic.
#include <cmath>

#include "passes/attention/attention_match.h"

namespace kiln::attn {
namespace {

constexpr int kMaxDepth = 12;

// Entries of a small 1-D (or scalar) integer value known at build time; an entry is nullopt when unknown
// (a dynamic dim read through Shape). nullopt for the whole when the value is not understood.
using Ints = std::vector<std::optional<int64_t>>;

std::optional<Ints> static_ints(const Graph& g, const GraphIndex& idx, const std::string& v, int depth);

int64_t clamp_index(int64_t i, int64_t n, bool end) {
  if (i < 0) i += n;
  const int64_t lo = end ? -1 : 0;
  return i < lo ? lo : (i > n ? n : i);
}

std::optional<Ints> slice_ints(const Graph& g, const GraphIndex& idx, const Node& n, int depth) {
  auto data = static_ints(g, idx, n.inputs[0], depth + 1);
  auto starts = n.has_input(1) ? int_constant(g, n.inputs[1]) : std::nullopt;
  auto ends = n.has_input(2) ? int_constant(g, n.inputs[2]) : std::nullopt;
  if (!data || !starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
  if (n.has_input(3)) {
    auto axes = int_constant(g, n.inputs[3]);
    if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1)) return std::nullopt;
  }
  int64_t step = 1;
  if (n.has_input(4)) {
    auto steps = int_constant(g, n.inputs[4]);
    if (!steps || steps->size() != 1 || (*steps)[0] == 0) return std::nullopt;
    step = (*steps)[0];
  }
  const int64_t len = static_cast<int64_t>(data->size());
  Ints out;
  if (step > 0) {
    for (int64_t i = clamp_index((*starts)[0], len, false), e = clamp_index((*ends)[0], len, false); i < e; i += step)
      out.push_back((*data)[static_cast<size_t>(i)]);
  } else {
    int64_t i = (*starts)[0] < 0 ? (*starts)[0] + len : std::min((*starts)[0], len - 1);
    const int64_t e = clamp_index((*ends)[0], len, true);
    for (; i > e && i >= 0; i += step) out.push_back((*data)[static_cast<size_t>(i)]);
  }
  return out;
}

std::optional<Ints> static_ints(const Graph& g, const GraphIndex& idx, const std::string& v, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  if (auto c = int_constant(g, v)) {
    Ints out;
    for (int64_t x : *c) out.push_back(x);
    return out;
  }
  const Node* n = idx.producer(v);
  if (!n || n->inputs.empty() || n->outputs.size() != 1) return std::nullopt;
  switch (n->op) {
    case OpKind::kShape: {
      auto dims = dims_of(g, n->inputs[0]);
      if (dims.empty()) return std::nullopt;
      const int64_t r = static_cast<int64_t>(dims.size());
      const int64_t start = clamp_index(n->attrs.get_int("start", 0), r, false);
      const int64_t end = n->attrs.has("end") ? clamp_index(n->attrs.get_int("end"), r, false) : r;
      Ints out;
      for (int64_t i = start; i < end; ++i)
        out.push_back(dims[static_cast<size_t>(i)].is_known() ? std::optional<int64_t>(dims[static_cast<size_t>(i)].value)
                                                              : std::nullopt);
      return out;
    }
    case OpKind::kSlice:
      return slice_ints(g, idx, *n, depth);
    case OpKind::kGather: {
      auto data = static_ints(g, idx, n->inputs[0], depth + 1);
      auto at = n->has_input(1) ? int_constant(g, n->inputs[1]) : std::nullopt;
      if (!data || !at || n->attrs.get_int("axis", 0) != 0) return std::nullopt;
      Ints out;
      const int64_t len = static_cast<int64_t>(data->size());
      for (int64_t i : *at) {
        if (i < -len || i >= len) return std::nullopt;
        out.push_back((*data)[static_cast<size_t>(i < 0 ? i + len : i)]);
      }
      return out;
    }
    case OpKind::kCast:
    case OpKind::kIdentity:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kReshape: {
      const TypeInfo* t = g.type_of(v);
      if (!t || !is_integer(t->dtype)) return std::nullopt;
      return static_ints(g, idx, n->inputs[0], depth + 1);
    }
    default:
      return std::nullopt;
  }
}

std::optional<double> eval(const Graph& g, const GraphIndex& idx, const std::string& v, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  if (auto c = scalar_constant(g, v)) return c;
  const TypeInfo* t = g.type_of(v);
  if (t && is_integer(t->dtype)) {
    auto ints = static_ints(g, idx, v, depth);
    if (!ints || ints->size() != 1 || !(*ints)[0]) return std::nullopt;
    return static_cast<double>(*(*ints)[0]);
  }
  const Node* n = idx.producer(v);
  if (!n || n->inputs.empty() || n->outputs.size() != 1 || !t || !is_float(t->dtype)) return std::nullopt;
  auto arg = [&](size_t i) { return n->has_input(i) ? eval(g, idx, n->inputs[i], depth + 1) : std::nullopt; };
  std::optional<double> a = arg(0), b;
  if (!a) return std::nullopt;
  double r = 0;
  switch (n->op) {
    case OpKind::kCast:
    case OpKind::kIdentity:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kReshape:
      r = *a;
      break;
    case OpKind::kSqrt:
      r = std::sqrt(*a);
      break;
    case OpKind::kReciprocal:
      r = 1.0 / *a;
      break;
    case OpKind::kNeg:
      r = -*a;
      break;
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kPow:
      if (!(b = arg(1))) return std::nullopt;
      r = n->op == OpKind::kMul   ? *a * *b
          : n->op == OpKind::kDiv ? *a / *b
          : n->op == OpKind::kAdd ? *a + *b
          : n->op == OpKind::kSub ? *a - *b
                                  : std::pow(*a, *b);
      break;
    default:
      return std::nullopt;
  }
  // The graph computes in its own dtype: a float32 value is rounded as the exporter's graph would round it.
  if (t->dtype == DType::kFloat32) r = static_cast<float>(r);
  return r;
}

}  // namespace

std::optional<double> static_scalar(const Graph& g, const GraphIndex& idx, const std::string& value) {
  if (auto c = scalar_constant(g, value)) return c;
  const TypeInfo* t = g.type_of(value);
  if (!t || !t->is_tensor()) return std::nullopt;
  if (t->shape.rank_known)
    for (const Dim& d : t->shape.dims)
      if (!d.is_known() || d.value != 1) return std::nullopt;  // a single element, whatever the rank
  return eval(g, idx, value, 0);
}

std::optional<Scaling> scalar_scaling(const Graph& g, const GraphIndex& idx, const Node& n) {
  if (n.inputs.size() != 2 || n.outputs.size() != 1) return std::nullopt;
  // The factor must not widen the other operand by broadcasting (a [1,1,1,1] factor on a 3-D tensor).
  auto keeps_shape = [&](int i) {
    const int64_t rc = fuse::rank_of(g, n.inputs[i]), ro = fuse::rank_of(g, n.inputs[1 - i]);
    return rc >= 0 && ro >= 0 && rc <= ro;
  };
  if (n.op == OpKind::kDiv) {
    auto c = static_scalar(g, idx, n.inputs[1]);
    if (c && *c != 0 && std::isfinite(*c) && keeps_shape(1)) return Scaling{n.inputs[0], 1.0 / *c};
    return std::nullopt;
  }
  if (n.op != OpKind::kMul) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    auto c = static_scalar(g, idx, n.inputs[i]);
    if (c && std::isfinite(*c) && keeps_shape(i)) return Scaling{n.inputs[1 - i], *c};
  }
  return std::nullopt;
}

std::vector<Dim> dims_of(const Graph& g, const std::string& value) {
  const TypeInfo* t = g.type_of(value);
  if (!t || !t->is_tensor() || !t->shape.rank_known) return {};
  return t->shape.dims;
}

bool dims_conflict(const Dim& a, const Dim& b) { return a.is_known() && b.is_known() && a.value != b.value; }

bool is_reshape_like(OpKind op) {
  return op == OpKind::kReshape || op == OpKind::kFlatten || op == OpKind::kSqueeze || op == OpKind::kUnsqueeze;
}

}  // namespace kiln::attn
