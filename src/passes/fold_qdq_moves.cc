// fold_qdq_moves: propagates Q/DQ through ops that only move or select values (Reshape, Transpose, Slice, Concat,
// MaxPool, Gather, ...), as TensorRT does, so they run on the 8-bit values:
//  - M(DQ(x1), DQ(x2), ...) with one set of per-tensor parameters becomes DQ(M(x1, x2, ...)): M picks elements
//    without arithmetic (MaxPool the largest, and a positive scale keeps the order), so it commutes with DQ. Repeated
//    until no DequantizeLinear can move, so chains (Reshape -> Transpose) move as a whole;
//  - Q(DQ(x)) with Q's own parameters is x (an Identity, removed later);
//  - Q(M(DQ(x1), DQ(x2), ...)) with differing input parameters (a Concat) becomes M over the inputs requantized to
//    Q's parameters: new QuantizeLinear(DQ(xi)) nodes that fold_qdq_lookup turns into tables (Q is element-wise).
// All exact. Runs before fold_qdq (the moved values then meet the convolutions' DequantizeLinear directly), for the
// same backends (cpu, cuda). Replaced float nodes are left to eliminate_dead_code.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// The inputs of `n` that carry data (the others are shapes, axes, indices, scales...); empty when `n` is not a
// pure move or selection.
std::vector<size_t> data_inputs(const Node& n) {
  for (size_t i = 1; i < n.outputs.size(); ++i)
    if (!n.outputs[i].empty()) return {};  // MaxPool's Indices, Split
  switch (n.op) {
    case OpKind::kReshape: case OpKind::kFlatten: case OpKind::kSqueeze: case OpKind::kUnsqueeze:
    case OpKind::kTranspose: case OpKind::kIdentity: case OpKind::kSlice: case OpKind::kGather:
    case OpKind::kDepthToSpace: case OpKind::kSpaceToDepth: case OpKind::kMaxPool:
    case OpKind::kExpand: case OpKind::kTile:
      return {0};
    case OpKind::kConcat: {
      std::vector<size_t> all(n.inputs.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      return all;
    }
    default:
      return {};
  }
}

struct QParams {
  std::string scale, zero_point;
  float s = 0;
  double z = 0;
  DType t = DType::kUndefined;
};

// Scale and zero point of a Quantize/DequantizeLinear when both are single-element constants (zero point absent:
// 0 of `dflt`), the scale float32 and positive.
std::optional<QParams> scalar_params(const Graph& g, const Node& n, DType dflt) {
  if (n.inputs.size() < 2 || n.attrs.get_int("block_size", 0) != 0 || n.attrs.has("precision")) return std::nullopt;
  const Tensor* s = constant_value(g, n.inputs[1]);
  if (!s || s->dtype() != DType::kFloat32 || s->numel() != 1 || !(s->data<float>()[0] > 0)) return std::nullopt;
  QParams p{n.inputs[1], n.has_input(2) ? n.inputs[2] : "", s->data<float>()[0], 0, dflt};
  if (n.has_input(2)) {
    const Tensor* z = constant_value(g, n.inputs[2]);
    if (!z || z->numel() != 1 || !is_q8(z->dtype())) return std::nullopt;
    p.z = z->as_double(0);
    p.t = z->dtype();
  }
  return is_q8(p.t) ? std::optional<QParams>(p) : std::nullopt;
}

// Declares the new 8-bit value `v` with the shape of the float value `like` it stands for: a moved Reshape whose shape
// input is computed at run time would otherwise be re-inferred as [?,?,?] and lose the symbolic dimensions the
// float value had (fold_qdq_lookup needs a table's input and output shapes to match).
void declare_like(Graph& g, const std::string& v, const std::string& like, DType t) {
  const TypeInfo* lt = g.type_of(like);
  if (lt && lt->is_tensor()) g.value_types[v] = TypeInfo::tensor(t, lt->shape);
}

bool same(const QParams& a, const QParams& b) { return a.t == b.t && a.s == b.s && a.z == b.z; }

// The DequantizeLinear producing data input i of `m` and its parameters (per tensor, over an 8-bit value).
struct DqInput {
  const Node* dq = nullptr;
  QParams p;
};
std::optional<DqInput> dq_input(const Graph& g, const fuse::GraphIndex& idx, const Node& m, size_t i) {
  const Node* dq = m.has_input(i) ? idx.producer_of(m.inputs[i], OpKind::kDequantizeLinear) : nullptr;
  const TypeInfo* xt = dq ? g.type_of(dq->inputs[0]) : nullptr;
  if (!xt || !is_q8(xt->dtype)) return std::nullopt;
  auto p = scalar_params(g, *dq, xt->dtype);
  if (!p) return std::nullopt;
  return DqInput{dq, *p};
}

class FoldQdqMoves : public Pass {
 public:
  std::string name() const override { return "fold_qdq_moves"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    bool any = false;
    for (int sweep = 0; sweep < 64; ++sweep) {  // each sweep moves every DequantizeLinear past one op
      KILN_ASSIGN_OR_RETURN(const bool changed, run_sweep(g));
      if (!changed) break;
      any = true;
    }
    return any;
  }

 private:
  static Result<bool> run_sweep(Graph& g) {
    fuse::GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      const Node& n = g.nodes[k];
      if (n.op == OpKind::kQuantizeLinear) {
        requantize_or_drop(g, idx, rw, k);
        continue;
      }
      const std::vector<size_t> data = data_inputs(n);
      if (data.empty() || rw.claimed({k})) continue;
      // M(DQ(x1), DQ(x2)...) with one set of parameters -> DQ(M(x1, x2...)): M moves onto the 8-bit values.
      std::vector<DqInput> ins;
      for (size_t i : data) {
        auto d = dq_input(g, idx, n, i);
        if (!d || (!ins.empty() && !same(ins[0].p, d->p))) break;
        ins.push_back(*d);
      }
      if (ins.size() != data.size()) continue;
      Node moved = n;
      const std::string v = g.fresh_name(n.outputs[0] + "_quantized");
      declare_like(g, v, n.outputs[0], ins[0].p.t);
      moved.outputs[0] = v;
      for (size_t j = 0; j < data.size(); ++j) moved.inputs[data[j]] = ins[j].dq->inputs[0];
      Node dq = *ins[0].dq;
      dq.name = n.name + "_dequantize";
      dq.inputs[0] = v;
      dq.outputs = {n.outputs[0]};
      rw.replace(k, {std::move(moved), std::move(dq)}, {});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    return applied;
  }

  // At QuantizeLinear k: Q(DQ(x)) with Q's own parameters is x (an Identity, removed later); Q(M(DQ(x1), DQ(x2)..))
  // whose inputs' parameters differ (a Concat of differently quantized values) becomes M(Q(DQ(x1)), ...) with each
  // input requantized to Q's parameters (tables after fold_qdq_lookup) where they are not Q's already.
  static void requantize_or_drop(Graph& g, const fuse::GraphIndex& idx, fuse::Rewriter& rw, size_t k) {
    const Node& q = g.nodes[k];
    auto qp = scalar_params(g, q, DType::kUInt8);
    const std::optional<size_t> mi = idx.producer_index(q.inputs[0]);
    if (!qp || !mi || rw.claimed({k})) return;
    const Node& m = g.nodes[*mi];
    if (m.op == OpKind::kDequantizeLinear) {
      auto d = dq_input(g, idx, q, 0);
      if (!d || !same(d->p, *qp)) return;
      rw.replace(k, {fuse::fused_node(q, OpKind::kIdentity, {m.inputs[0]}, {q.outputs[0]}, 16)}, {});
      return;
    }
    const std::vector<size_t> data = data_inputs(m);
    if (data.size() < 2) return;  // one input: the DequantizeLinear moves past M instead (run_sweep)
    Node moved = m;
    moved.name = q.name;
    moved.outputs.assign(m.outputs.size(), "");
    moved.outputs[0] = q.outputs[0];
    std::vector<Node> out;
    for (size_t i : data) {
      auto d = dq_input(g, idx, m, i);
      if (!d) return;
      if (same(d->p, *qp)) {
        moved.inputs[i] = d->dq->inputs[0];
        continue;
      }
      const std::string v = g.fresh_name(m.inputs[i] + "_requantized");
      declare_like(g, v, m.inputs[i], qp->t);
      Node r = fuse::fused_node(q, OpKind::kQuantizeLinear, q.inputs, {v}, q.opset);
      r.name = q.name + "_requantize_" + std::to_string(i);
      r.inputs[0] = m.inputs[i];
      out.push_back(std::move(r));
      moved.inputs[i] = v;
    }
    out.push_back(std::move(moved));
    rw.replace(k, std::move(out), {});
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_moves_pass() { return std::make_unique<FoldQdqMoves>(); }

}  // namespace kiln
