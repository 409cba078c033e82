// Pattern-matching helpers shared by the fusion passes.
#include "passes/fuse_util.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "ir/shape_inference.h"

namespace kiln::fuse {

GraphIndex::GraphIndex(const Graph& g) : g_(g), producers_(build_producer_map(g)), uses_(build_use_map(g)) {
  for (const auto& o : g.outputs) outputs_.insert(o.name);
}

std::optional<size_t> GraphIndex::producer_index(const std::string& value) const {
  auto it = producers_.find(value);
  if (it == producers_.end()) return std::nullopt;
  return it->second;
}

const Node* GraphIndex::producer(const std::string& value) const {
  auto i = producer_index(value);
  return i ? &g_.nodes[*i] : nullptr;
}

const Node* GraphIndex::producer_of(const std::string& value, OpKind op) const {
  const Node* n = producer(value);
  return n && n->op == op ? n : nullptr;
}

std::set<size_t> GraphIndex::consumer_nodes(const std::string& value) const {
  std::set<size_t> s;
  auto it = uses_.find(value);
  if (it != uses_.end())
    for (const Use& u : it->second) s.insert(u.node);
  return s;
}

bool GraphIndex::only_read_by(const std::string& value, size_t consumer) const {
  if (is_output(value)) return false;
  auto it = uses_.find(value);
  if (it == uses_.end() || it->second.empty()) return false;
  for (const Use& u : it->second)
    if (u.node != consumer || u.input == kSubgraphUse) return false;
  return true;
}

std::optional<size_t> GraphIndex::sole_consumer(const std::string& value) const {
  auto it = uses_.find(value);
  if (it == uses_.end() || it->second.empty()) return std::nullopt;
  const size_t n = it->second.front().node;
  if (!only_read_by(value, n)) return std::nullopt;
  if (g_.nodes[n].outputs.empty() || g_.nodes[n].outputs[0].empty()) return std::nullopt;  // nothing to chain to
  return n;
}

bool is_float_value(const Graph& g, const std::string& value) {
  const TypeInfo* t = g.type_of(value);
  return t && t->is_tensor() && is_float(t->dtype) && !is_float8(t->dtype) && t->dtype != DType::kFloat4E2M1;
}

int64_t rank_of(const Graph& g, const std::string& value) {
  const TypeInfo* t = g.type_of(value);
  return t && t->is_tensor() && t->shape.rank_known ? static_cast<int64_t>(t->shape.rank()) : -1;
}

bool is_scalar_near(const Graph& g, const std::string& value, double want, double rel_tol) {
  auto v = scalar_constant(g, value);
  return v && std::fabs(*v - want) <= rel_tol * std::fabs(want);
}

std::optional<std::string> other_input(const Node& n, const std::string& known) {
  if (n.inputs.size() != 2) return std::nullopt;
  if (n.inputs[0] == known) return n.inputs[1];
  if (n.inputs[1] == known) return n.inputs[0];
  return std::nullopt;
}

std::optional<ScalarOperand> scalar_operand(const Graph& g, const Node& n) {
  if (n.inputs.size() != 2) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    auto v = scalar_constant(g, n.inputs[i]);
    if (v) return ScalarOperand{n.inputs[1 - i], *v};
  }
  return std::nullopt;
}

std::optional<std::vector<int64_t>> reduce_axes(const Graph& g, const Node& n) {
  if (n.attrs.has("axes")) return n.attrs.get_ints("axes");
  if (n.has_input(1)) return int_constant(g, n.inputs[1]);
  return std::nullopt;
}

bool reduces_last_axis_keepdims(const Graph& g, const Node& n) {
  if (n.attrs.get_int("keepdims", 1) != 1 || n.inputs.empty()) return false;
  auto axes = reduce_axes(g, n);
  const int64_t rank = rank_of(g, n.inputs[0]);
  if (!axes || axes->size() != 1 || rank < 1) return false;
  return (*axes)[0] == -1 || (*axes)[0] == rank - 1;
}

bool Rewriter::claimed(const std::vector<size_t>& nodes) const {
  for (size_t n : nodes)
    if (claimed_.count(n)) return true;
  return false;
}

void Rewriter::replace(size_t last, std::vector<Node> replacement, const std::vector<size_t>& removed) {
  claimed_.insert(last);
  for (size_t r : removed) {
    claimed_.insert(r);
    removed_.insert(r);
  }
  replace_[last] = std::move(replacement);
}

Result<bool> Rewriter::commit(const std::set<std::string>& changed_types) {
  if (replace_.empty()) return false;
  Graph backup = g_;              // cheap: tensors are shared handles
  std::set<std::string> dropped;  // outputs of nodes that disappear
  std::vector<Node> nodes;
  nodes.reserve(g_.nodes.size());
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    auto it = replace_.find(i);
    if (it != replace_.end() || removed_.count(i)) {
      for (const auto& o : g_.nodes[i].outputs) dropped.insert(o);
    }
    if (it != replace_.end()) {
      for (Node& n : it->second) nodes.push_back(std::move(n));
    } else if (!removed_.count(i)) {
      nodes.push_back(std::move(g_.nodes[i]));
    }
  }
  g_.nodes = std::move(nodes);
  std::set<std::string> produced;
  for (const Node& n : g_.nodes)
    for (const auto& o : n.outputs) produced.insert(o);
  for (const auto& d : dropped)
    if (!produced.count(d)) g_.value_types.erase(d);
  claimed_.clear();
  removed_.clear();
  replace_.clear();
  // A fused node that inference rejects means a matcher accepted something the op's contract does not: keep the
  // graph as it was (the pass then reports "unchanged") rather than fail the build.
  if (!reinfer_types(g_, changed_types).ok()) {
    g_ = std::move(backup);
    return false;
  }
  return true;
}

Node fused_node(const Node& like, OpKind op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                int opset) {
  Node n;
  n.op = op;
  n.name = like.name;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.opset = opset;
  return n;
}

}  // namespace kiln::fuse

namespace kiln::fuse {

bool is_square_of(const Graph& g, const Node& n, const std::string& v) {
  if (n.inputs.size() != 2 || n.inputs[0] != v) return false;
  if (n.op == OpKind::kMul) return n.inputs[1] == v;
  return n.op == OpKind::kPow && is_scalar_near(g, n.inputs[1], 2.0, 1e-6);
}

bool match_add_eps_sqrt(const Graph& g, const GraphIndex& idx, const std::string& var, double* eps,
                        std::vector<size_t>* nodes) {
  auto ai = idx.sole_consumer(var);
  if (!ai || g.nodes[*ai].op != OpKind::kAdd) return false;
  auto e = other_input(g.nodes[*ai], var);
  if (!e) return false;
  auto ev = scalar_constant(g, *e);
  if (!ev || *ev < 0 || *ev > 1) return false;
  auto si = idx.sole_consumer(g.nodes[*ai].outputs[0]);
  if (!si || g.nodes[*si].op != OpKind::kSqrt) return false;
  *eps = *ev;
  nodes->insert(nodes->end(), {*ai, *si});
  return true;
}

void match_affine(const Graph& g, const GraphIndex& idx, size_t last, bool with_beta, std::vector<size_t>* nodes,
                  std::string* gamma, std::string* beta) {
  auto step = [&](OpKind op, std::string* param) {
    const std::string& y = g.nodes[last].outputs[0];
    auto c = idx.sole_consumer(y);
    if (!c || g.nodes[*c].op != op) return false;
    auto other = other_input(g.nodes[*c], y);
    if (!other || *other == y || !constant_value(g, *other)) return false;
    *param = *other;
    nodes->push_back(*c);
    last = *c;
    return true;
  };
  step(OpKind::kMul, gamma);
  if (with_beta) step(OpKind::kAdd, beta);
}

namespace {

// `name` as a [d] constant of dtype `dt` (re-added when its shape differs); "" when it does not fit.
std::string as_last_axis_vector(Graph& g, const std::string& name, int64_t d, DType dt, int64_t x_rank) {
  const Tensor* t = constant_value(g, name);
  if (!t || t->dtype() != dt || static_cast<int64_t>(t->rank()) > x_rank) return "";
  if (t->numel() != d && t->numel() != 1) return "";
  for (size_t i = 0; i + 1 < t->rank(); ++i)
    if (t->dim(i) != 1) return "";
  if (t->rank() == 1 && t->numel() == d) return name;
  if (t->numel() == d) return g.add_constant(name + "_vec", t->reshaped({d}));
  Tensor v(dt, {d});  // a single value broadcast along the axis
  const size_t es = dtype_size(dt);
  for (int64_t i = 0; i < d; ++i) std::memcpy(static_cast<char*>(v.raw()) + i * es, t->raw(), es);
  return g.add_constant(name + "_vec", v);
}

}  // namespace

bool last_axis_params(Graph& g, const std::string& x, const std::string& gamma, const std::string& beta,
                      std::string* scale, std::string* bias) {
  const TypeInfo* t = g.type_of(x);
  int64_t d = -1;
  if (t && t->shape.rank_known && t->shape.rank() > 0 && t->shape.dims.back().is_known())
    d = t->shape.dims.back().value;
  if (d <= 0 || !t) return false;
  const int64_t rank = static_cast<int64_t>(t->shape.rank());
  if (gamma.empty()) {
    Tensor ones(DType::kFloat32, {d});
    for (int64_t i = 0; i < d; ++i) ones.data<float>()[i] = 1.f;
    if (t->dtype != DType::kFloat32) {
      // Build the ones in x's dtype through the reference conversion (any float type).
      Tensor conv(t->dtype, {d});
      for (int64_t i = 0; i < d; ++i) {
        if (t->dtype == DType::kFloat64)
          conv.data<double>()[i] = 1.0;
        else if (t->dtype == DType::kFloat16)
          conv.data<uint16_t>()[i] = 0x3C00;
        else if (t->dtype == DType::kBFloat16)
          conv.data<uint16_t>()[i] = 0x3F80;
        else
          return false;
      }
      ones = conv;
    }
    *scale = g.add_constant(x + "_ln_scale", ones);
  } else {
    *scale = as_last_axis_vector(g, gamma, d, t->dtype, rank);
    if (scale->empty()) return false;
  }
  bias->clear();
  if (!beta.empty()) {
    *bias = as_last_axis_vector(g, beta, d, t->dtype, rank);
    if (bias->empty()) return false;
  }
  return true;
}

}  // namespace kiln::fuse

namespace kiln::fuse {

bool same_dim(const Dim& a, const Dim& b) {
  if (a.is_known() || b.is_known()) return a.is_known() && b.is_known() && a.value == b.value;
  return !a.symbol.empty() && a.symbol == b.symbol;
}

bool same_shape(const Shape& a, const Shape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.rank(); ++i)
    if (!same_dim(a.dims[i], b.dims[i])) return false;
  return true;
}

namespace {

// Clip bounds: constant inputs 1/2 (opset >= 11) or min/max attributes; absent = unbounded.
bool clip_bounds(const Graph& g, const Node& n, float* lo, float* hi) {
  *lo = -std::numeric_limits<float>::infinity();
  *hi = std::numeric_limits<float>::infinity();
  if (n.attrs.has("min")) *lo = n.attrs.get_float("min");
  if (n.attrs.has("max")) *hi = n.attrs.get_float("max");
  for (size_t i = 1; i < 3; ++i) {
    if (!n.has_input(i)) continue;
    auto v = scalar_constant(g, n.inputs[i]);
    if (!v) return false;
    (i == 1 ? *lo : *hi) = static_cast<float>(*v);
  }
  return *lo <= *hi;
}

}  // namespace

namespace {

// Whether node n scales value v by 1/6: Div(v, 6) or Mul(v, 1/6) (either operand order for Mul).
bool divides_by_six(const Graph& g, const Node& n, const std::string& v) {
  if (n.inputs.size() != 2) return false;
  if (n.op == OpKind::kDiv && n.inputs[0] == v) {
    auto c = scalar_constant(g, n.inputs[1]);
    return c && *c == 6.0;
  }
  if (n.op != OpKind::kMul) return false;
  auto other = other_input(n, v);
  auto c = other ? scalar_constant(g, *other) : std::nullopt;
  return c && std::fabs(*c - 1.0 / 6.0) < 1e-6;
}

// HardSwish written out, y * HardSigmoid(y) / y * Clip(y + 3, 0, 6) / 6 (exporters without the HardSwish op: PyTorch
// below opset 14, Paddle), with the scale before or after the product: the nodes after y and the last one.
std::optional<ActivationMatch> match_decomposed_hardswish(const Graph& g, const GraphIndex& idx, const std::string& y,
                                                          const std::set<size_t>& users) {
  std::optional<size_t> gate, mul;  // the node computing the gate from y, and the product
  for (size_t u : users) {
    const Node& n = g.nodes[u];
    if (n.outputs.empty() || n.outputs[0].empty() || n.inputs.empty()) return std::nullopt;
    if (n.op == OpKind::kMul && !mul) mul = u;
    else if ((n.op == OpKind::kHardSigmoid || n.op == OpKind::kAdd) && !gate) gate = u;
    else return std::nullopt;
  }
  if (!gate || !mul) return std::nullopt;
  ActivationMatch m;
  m.act.kind = fused::ActKind::kHardSwish;
  std::string g_out = g.nodes[*gate].outputs[0];
  m.nodes = {*gate};
  const Node& gn = g.nodes[*gate];
  if (gn.op == OpKind::kHardSigmoid) {
    if (std::fabs(gn.attrs.get_float("alpha", 0.2f) - 1.0 / 6.0) > 1e-6 || gn.attrs.get_float("beta", 0.5f) != 0.5f)
      return std::nullopt;
  } else {
    auto three = gn.inputs.size() == 2 ? other_input(gn, y) : std::nullopt;
    auto c3 = three ? scalar_constant(g, *three) : std::nullopt;
    if (!c3 || *c3 != 3.0) return std::nullopt;
    auto ci = idx.sole_consumer(g_out);
    if (!ci || g.nodes[*ci].op != OpKind::kClip || g.nodes[*ci].inputs[0] != g_out) return std::nullopt;
    float lo = 0, hi = 0;
    if (!clip_bounds(g, g.nodes[*ci], &lo, &hi) || lo != 0.f || hi != 6.f) return std::nullopt;
    m.nodes.push_back(*ci);
    g_out = g.nodes[*ci].outputs[0];
    auto si = idx.sole_consumer(g_out);  // the scale may come before the product
    if (si && *si != *mul && divides_by_six(g, g.nodes[*si], g_out)) {
      m.nodes.push_back(*si);
      g_out = g.nodes[*si].outputs[0];
    } else if (si && *si == *mul) {
      g_out.clear();  // the product takes the unscaled clip: the scale must follow it
    } else {
      return std::nullopt;
    }
    if (g_out.empty()) {
      const Node& mn = g.nodes[*mul];
      if (other_input(mn, y) != g.nodes[*ci].outputs[0]) return std::nullopt;
      auto di = idx.sole_consumer(mn.outputs[0]);
      if (idx.is_output(mn.outputs[0]) || !di || !divides_by_six(g, g.nodes[*di], mn.outputs[0])) return std::nullopt;
      m.nodes.push_back(*mul);
      m.nodes.push_back(*di);
      m.last = *di;
      return m;
    }
  }
  if (!idx.only_read_by(g_out, *mul) || other_input(g.nodes[*mul], y) != g_out) return std::nullopt;
  m.nodes.push_back(*mul);
  m.last = *mul;
  return m;
}

}  // namespace

std::optional<ActivationMatch> match_activation(const Graph& g, const GraphIndex& idx, const std::string& y) {
  using fused::ActKind;
  if (idx.is_output(y)) return std::nullopt;
  std::set<size_t> users = idx.consumer_nodes(y);
  ActivationMatch m;
  if (users.size() == 2) {
    if (auto hs = match_decomposed_hardswish(g, idx, y, users)) return hs;
  }
  if (users.size() == 2) {  // Silu: Mul(y, Sigmoid(y))
    size_t sig = 0, mul = 0;
    bool have_sig = false, have_mul = false;
    for (size_t u : users) {
      const Node& n = g.nodes[u];
      if (n.outputs.empty() || n.outputs[0].empty()) return std::nullopt;
      if (n.op == OpKind::kSigmoid && n.inputs.size() == 1) {
        sig = u;
        have_sig = true;
      } else if (n.op == OpKind::kMul) {
        mul = u;
        have_mul = true;
      }
    }
    if (!have_sig || !have_mul || !idx.only_read_by(g.nodes[sig].outputs[0], mul)) return std::nullopt;
    if (other_input(g.nodes[mul], y) != g.nodes[sig].outputs[0]) return std::nullopt;
    m.act.kind = ActKind::kSilu;
    m.nodes = {sig, mul};
    m.last = mul;
    return m;
  }
  auto c = idx.sole_consumer(y);
  if (!c) return std::nullopt;
  const Node& n = g.nodes[*c];
  if (n.inputs.empty() || n.inputs[0] != y) return std::nullopt;
  switch (n.op) {
    case OpKind::kRelu:
      m.act.kind = ActKind::kRelu;
      break;
    case OpKind::kSigmoid:
      m.act.kind = ActKind::kSigmoid;
      break;
    case OpKind::kTanh:
      m.act.kind = ActKind::kTanh;
      break;
    case OpKind::kHardSwish:
      m.act.kind = ActKind::kHardSwish;
      break;
    case OpKind::kLeakyRelu:
      m.act.kind = ActKind::kLeakyRelu;
      m.act.alpha = n.attrs.get_float("alpha", 0.01f);
      break;
    case OpKind::kHardSigmoid:
      m.act.kind = ActKind::kHardSigmoid;
      m.act.alpha = n.attrs.get_float("alpha", 0.2f);
      m.act.beta = n.attrs.get_float("beta", 0.5f);
      break;
    case OpKind::kClip:
      m.act.kind = ActKind::kClip;
      if (!clip_bounds(g, n, &m.act.alpha, &m.act.beta)) return std::nullopt;
      break;
    case OpKind::kGelu: {
      const std::string approx = n.attrs.get_string("approximate", "none");
      if (approx != "none" && approx != "tanh") return std::nullopt;
      m.act.kind = approx == "none" ? ActKind::kGelu : ActKind::kGeluTanh;
      break;
    }
    default:
      return std::nullopt;
  }
  m.nodes = {*c};
  m.last = *c;
  return m;
}

std::optional<Tensor> column_vector(const Tensor* t, int64_t n, int64_t out_rank, DType dt, double scale) {
  if (!t || t->dtype() != dt || n <= 0) return std::nullopt;
  if (static_cast<int64_t>(t->rank()) > out_rank || (t->numel() != n && t->numel() != 1)) return std::nullopt;
  for (size_t i = 0; i + 1 < t->rank(); ++i)
    if (t->dim(i) != 1) return std::nullopt;
  if (dt != DType::kFloat32 && dt != DType::kFloat64) {
    // Narrow floats (float16, bfloat16) are moved bytewise, so only an unscaled [N] vector qualifies.
    if (scale != 1.0 || t->numel() != n || (dt != DType::kFloat16 && dt != DType::kBFloat16)) return std::nullopt;
    return t->reshaped({n});
  }
  Tensor v(dt, {n});
  for (int64_t i = 0; i < n; ++i) {
    const double x = t->as_double(t->numel() == 1 ? 0 : i) * scale;
    if (dt == DType::kFloat64)
      v.data<double>()[i] = x;
    else
      v.data<float>()[i] = static_cast<float>(x);
  }
  return v;
}

const Tensor* constant_f32(const Graph& g, const std::string& v) {
  const Tensor* t = v.empty() ? nullptr : constant_value(g, v);
  return t && t->dtype() == DType::kFloat32 ? t : nullptr;
}

bool is_absorbable_fp8_quantize(const Graph& g, const Node& q) {
  if (q.op != OpKind::kQuantizeLinear || q.inputs.size() < 2 || q.outputs.size() != 1 ||
      q.attrs.get_int("block_size", 0) != 0 || q.attrs.get_int("saturate", 1) != 1 || q.attrs.has("precision"))
    return false;
  const TypeInfo* qt = g.type_of(q.outputs[0]);
  const Tensor* s = constant_value(g, q.inputs[1]);
  if (!qt || qt->dtype != DType::kFloat8E4M3FN || !s || s->numel() != 1 || !(s->as_double(0) > 0)) return false;
  if (!q.has_input(2)) return true;
  const Tensor* z = constant_value(g, q.inputs[2]);
  return z && z->numel() == 1 && z->as_double(0) == 0;
}

}  // namespace kiln::fuse
