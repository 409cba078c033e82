// fold_qdq: DequantizeLinear -> Conv | MatMul | Gemm [-> Relu] -> QuantizeLinear becomes one QLinearConv or
// QLinearMatMul over the 8-bit values, so Q/DQ ("explicit quantization") models from ONNX Runtime's quantize_static,
// NVIDIA ModelOpt or `kiln calibrate` run as int8 convolutions and GEMMs (docs/int8.md). Runs before constant
// folding (which would turn the weights' DequantizeLinear into float weights), for backends that ask for it (cpu,
// cuda). Folded only where the result is the unfused graph's up to rounding:
//  - activations: DequantizeLinear of a uint8/int8 value with a constant scalar float32 scale and zero point;
//  - weights: DequantizeLinear of a constant int8 initializer, scale per tensor or per output channel (Conv axis 0,
//    MatMul B axis 1, Gemm B the output axis), zero points 0;
//  - Conv bias: a constant float vector or the DequantizeLinear of a constant int32 one, requantized to int32 in
//    accumulator units (x_scale * w_scale[c]);
//  - a Relu between the op and QuantizeLinear only when y's zero point is the type's minimum (the QuantizeLinear's
//    saturation then already clamps negatives to it);
//  - QuantizeLinear to uint8/int8 with a constant scalar float32 scale and zero point.
// MatMul/Gemm become QLinearMatMul with saturate=1 (Kiln's attribute: clamp like the QuantizeLinear it replaces).
// fold_qdq_binary (the same file, after fold_qdq_lookup): DequantizeLinear(a), DequantizeLinear(b) -> Add | Mul ->
// QuantizeLinear (residual Adds, squeeze-excitation Muls) becomes QLinearAdd / QLinearMul (com.microsoft) over the
// 8-bit a and b, both per-tensor: bit-identical, since those ops are defined in the same float32 math
// (docs/int8.md); a Relu before the QuantizeLinear (ResNet's residual Add -> Relu) goes in under the same rule as
// above (y's zero point the type's minimum). DequantizeLinear -> GlobalAveragePool -> QuantizeLinear (the squeeze of
// squeeze-excitation blocks) becomes QLinearGlobalAveragePool (com.microsoft; exact integer sums, so up to rounding).
// Gemm folds with alpha 1 and transA 0 (transB: the int8 weights are transposed here); its C, when a constant [N]
// bias (float, or the DequantizeLinear of int32) with beta 1, becomes Kiln's QLinearMatMul input 8: an int32 bias
// in accumulator units, requantized like QLinearConv's.
#include <cmath>

#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// The DequantizeLinear producing `value` with per-tensor constant parameters over a uint8/int8 input.
const Node* activation_dq(const Graph& g, const GraphIndex& idx, const std::string& value) {
  const Node* dq = idx.producer_of(value, OpKind::kDequantizeLinear);
  if (!dq || dq->inputs.size() < 2) return nullptr;
  const TypeInfo* t = g.type_of(dq->inputs[0]);
  const Tensor* s = fuse::constant_f32(g, dq->inputs[1]);
  if (!t || !is_q8(t->dtype) || !s || s->numel() != 1) return nullptr;
  if (dq->has_input(2)) {
    const Tensor* z = constant_value(g, dq->inputs[2]);
    if (!z || z->numel() != 1 || z->dtype() != t->dtype) return nullptr;
  }
  return dq;
}

// The DequantizeLinear producing a weight: constant int8 values, zero points 0, scale per tensor or along `axis`
// (normalized against the weight's rank) with `channels` values.
const Node* weight_dq(const Graph& g, const GraphIndex& idx, const std::string& value, int64_t axis, int64_t channels) {
  const Node* dq = idx.producer_of(value, OpKind::kDequantizeLinear);
  if (!dq || dq->inputs.size() < 2) return nullptr;
  const Tensor* w = constant_value(g, dq->inputs[0]);
  const Tensor* s = fuse::constant_f32(g, dq->inputs[1]);
  if (!w || w->dtype() != DType::kInt8 || !s || dq->attrs.get_int("block_size", 0) != 0) return nullptr;
  if (s->numel() != 1) {
    int64_t a = dq->attrs.get_int("axis", 1);
    if (a < 0) a += static_cast<int64_t>(w->rank());
    if (s->rank() != 1 || a != axis || s->numel() != channels) return nullptr;
  }
  if (dq->has_input(2)) {
    const Tensor* z = constant_value(g, dq->inputs[2]);
    if (!z || z->numel() != s->numel()) return nullptr;
    for (int64_t i = 0; i < z->numel(); ++i)
      if (z->as_double(i) != 0) return nullptr;
  }
  return dq;
}

// The zero point of `q` when it is a per-tensor QuantizeLinear with a single-element float scale and a present,
// single-element int8/uint8 zero point (both constants); null otherwise.
const Tensor* per_tensor_q_zero_point(const Graph& g, const Node& q) {
  if (q.op != OpKind::kQuantizeLinear || q.inputs.size() < 3 || !q.has_input(2)) return nullptr;
  if (q.attrs.get_int("block_size", 0) != 0 || q.attrs.has("precision")) return nullptr;
  const Tensor* s = fuse::constant_f32(g, q.inputs[1]);
  const Tensor* z = constant_value(g, q.inputs[2]);
  if (!s || s->numel() != 1 || !z || z->numel() != 1 || !is_q8(z->dtype())) return nullptr;
  return z;
}

// The QuantizeLinear ending the pattern after `y` (through a Relu when that is exact), and the nodes in between.
struct QuantEnd {
  size_t q = 0;
  std::vector<size_t> between;  // the Relu, if any
};
std::optional<QuantEnd> quant_end(const Graph& g, const GraphIndex& idx, const std::string& y) {
  auto ci = idx.sole_consumer(y);
  if (!ci) return std::nullopt;
  QuantEnd e;
  if (g.nodes[*ci].op == OpKind::kRelu) {
    e.between.push_back(*ci);
    ci = idx.sole_consumer(g.nodes[*ci].outputs[0]);
    if (!ci) return std::nullopt;
  }
  const Tensor* z = per_tensor_q_zero_point(g, g.nodes[*ci]);
  if (!z) return std::nullopt;
  if (!e.between.empty() && z->as_double(0) != (z->dtype() == DType::kInt8 ? -128 : 0)) return std::nullopt;
  e.q = *ci;
  return e;
}

// The nodes a fold removes (the op, then the ones between it and the QuantizeLinear that it replaces) into
// *removed; false when a previous fold of this sweep already claimed any of them or the QuantizeLinear.
bool claim_pattern(const fuse::Rewriter& rw, size_t op, const QuantEnd& end, std::vector<size_t>* removed) {
  *removed = {op};
  removed->insert(removed->end(), end.between.begin(), end.between.end());
  std::vector<size_t> all = *removed;
  all.push_back(end.q);
  return !rw.claimed(all);
}

// The float values of a Conv bias: a constant float vector, or DequantizeLinear of a constant int32 one (what
// quantize_static writes). Empty when it is neither.
std::vector<double> bias_values(const Graph& g, const GraphIndex& idx, const std::string& v, int64_t m) {
  if (const Tensor* b = fuse::constant_f32(g, v)) {
    if (b->numel() != m) return {};
    std::vector<double> out(static_cast<size_t>(m));
    for (int64_t c = 0; c < m; ++c) out[c] = b->data<float>()[c];
    return out;
  }
  const Node* dq = idx.producer_of(v, OpKind::kDequantizeLinear);
  if (!dq || dq->inputs.size() < 2) return {};
  const Tensor* q = constant_value(g, dq->inputs[0]);
  const Tensor* s = fuse::constant_f32(g, dq->inputs[1]);
  if (!q || q->dtype() != DType::kInt32 || q->numel() != m || !s || (s->numel() != 1 && s->numel() != m)) return {};
  if (dq->has_input(2)) {
    const Tensor* z = constant_value(g, dq->inputs[2]);
    if (!z) return {};
    for (int64_t i = 0; i < z->numel(); ++i)
      if (z->as_double(i) != 0) return {};
  }
  std::vector<double> out(static_cast<size_t>(m));
  for (int64_t c = 0; c < m; ++c)
    out[c] = static_cast<float>(q->data<int32_t>()[c] * s->data<float>()[s->numel() == 1 ? 0 : c]);
  return out;
}

// A zero point input for an activation DequantizeLinear (its own, or a new zero of the input's type).
std::string zero_point_of(Graph& g, const Node& dq, const std::string& base) {
  if (dq.has_input(2)) return dq.inputs[2];
  const DType t = g.type_of(dq.inputs[0])->dtype;
  Tensor z(t, {});
  if (t == DType::kInt8)
    z.data<int8_t>()[0] = 0;
  else
    z.data<uint8_t>()[0] = 0;
  return g.add_constant(base + "_zero_point", std::move(z));
}

// `binary` false: Conv, MatMul/Gemm, GlobalAveragePool ("fold_qdq"); true: Add/Mul ("fold_qdq_binary"), which runs
// after fold_qdq_lookup so that a Mul that is part of a one-input function (SiLU's x * sigmoid(x)) becomes a table.
class FoldQdq : public Pass {
 public:
  explicit FoldQdq(bool binary) : binary_(binary) {}
  std::string name() const override { return binary_ ? "fold_qdq_binary" : "fold_qdq"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& op = g.nodes[i];
      if (op.outputs.size() != 1 || rw.claimed({i})) continue;
      if (binary_) {
        if (op.op == OpKind::kAdd || op.op == OpKind::kMul) fold_binary(g, idx, rw, i);
      } else if (op.op == OpKind::kConv) {
        fold_conv(g, idx, rw, i);
      } else if (op.op == OpKind::kMatMul || op.op == OpKind::kGemm) {
        fold_matmul(g, idx, rw, i);
      } else if (op.op == OpKind::kGlobalAveragePool) {
        fold_global_average_pool(g, idx, rw, i);
      }
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }

 private:
  static void fold_conv(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t ci) {
    const Node& conv = g.nodes[ci];
    if (conv.inputs.size() < 2) return;
    const Node* dx = activation_dq(g, idx, conv.inputs[0]);
    auto wshape = static_shape(g, conv.inputs[1]);
    if (!dx || !wshape || wshape->size() < 3) return;
    const int64_t m = (*wshape)[0];
    const Node* dw = weight_dq(g, idx, conv.inputs[1], 0, m);
    if (!dw) return;
    const std::vector<double> bias = conv.has_input(2) ? bias_values(g, idx, conv.inputs[2], m) : std::vector<double>{};
    if (conv.has_input(2) && bias.empty()) return;
    auto end = quant_end(g, idx, conv.outputs[0]);
    if (!end) return;
    std::vector<size_t> removed;
    if (!claim_pattern(rw, ci, *end, &removed)) return;
    const Node& q = g.nodes[end->q];
    std::string b32;
    if (!bias.empty()) {  // int32 bias in accumulator units
      const double xs = fuse::constant_f32(g, dx->inputs[1])->data<float>()[0];
      const Tensor* ws = fuse::constant_f32(g, dw->inputs[1]);
      Tensor t(DType::kInt32, {m});
      for (int64_t c = 0; c < m; ++c) {
        const double v = std::nearbyint(bias[c] / (xs * ws->data<float>()[ws->numel() == 1 ? 0 : c]));
        if (!(std::fabs(v) < 2147483647.0)) return;
        t.data<int32_t>()[c] = static_cast<int32_t>(v);
      }
      b32 = g.add_constant(conv.name + "_bias_int32", std::move(t));
    }
    std::vector<std::string> in{dx->inputs[0], dx->inputs[1], zero_point_of(g, *dx, conv.name + "_x"),
                                dw->inputs[0], dw->inputs[1], dw->has_input(2) ? dw->inputs[2] : "",
                                q.inputs[1],   q.inputs[2],   b32};
    while (!in.empty() && in.back().empty()) in.pop_back();
    Node n = fuse::fused_node(conv, OpKind::kQLinearConv, in, {q.outputs[0]}, 10);
    n.attrs = conv.attrs;
    rw.replace(end->q, {std::move(n)}, removed);
  }

  bool binary_;

  static void fold_binary(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t bi) {
    const Node& op = g.nodes[bi];
    if (op.inputs.size() != 2) return;
    const Node* da = activation_dq(g, idx, op.inputs[0]);
    const Node* db = activation_dq(g, idx, op.inputs[1]);
    auto end = quant_end(g, idx, op.outputs[0]);
    if (!da || !db || !end) return;
    std::vector<size_t> removed;
    if (!claim_pattern(rw, bi, *end, &removed)) return;
    const Node& q = g.nodes[end->q];
    std::vector<std::string> in{da->inputs[0], da->inputs[1], zero_point_of(g, *da, op.name + "_a"),
                                db->inputs[0], db->inputs[1], zero_point_of(g, *db, op.name + "_b"),
                                q.inputs[1],   q.inputs[2]};
    const OpKind kind = op.op == OpKind::kAdd ? OpKind::kQLinearAdd : OpKind::kQLinearMul;
    Node n = fuse::fused_node(op, kind, in, {q.outputs[0]}, 1);
    n.attrs = Attrs();
    rw.replace(end->q, {std::move(n)}, removed);
  }

  static void fold_global_average_pool(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t pi) {
    const Node& pool = g.nodes[pi];
    const Node* dx = activation_dq(g, idx, pool.inputs[0]);
    auto qi = idx.sole_consumer(pool.outputs[0]);
    if (!dx || !qi || fuse::rank_of(g, pool.inputs[0]) < 3) return;
    const Node& q = g.nodes[*qi];
    const DType xt = g.type_of(dx->inputs[0])->dtype;
    const Tensor* z = per_tensor_q_zero_point(g, q);
    if (!z || z->dtype() != xt || rw.claimed({pi, *qi})) return;
    std::vector<std::string> in{dx->inputs[0], dx->inputs[1], zero_point_of(g, *dx, pool.name + "_x"), q.inputs[1],
                                q.inputs[2]};
    Node n = fuse::fused_node(pool, OpKind::kQLinearGlobalAveragePool, in, {q.outputs[0]}, 1);
    n.attrs = Attrs();
    rw.replace(*qi, {std::move(n)}, {pi});
  }

  static void fold_matmul(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t mi) {
    const Node& mm = g.nodes[mi];
    const bool gemm = mm.op == OpKind::kGemm;
    if (mm.inputs.size() < 2) return;
    bool trans_b = false;
    if (gemm) {
      if (mm.attrs.get_int("transA", 0) != 0 || mm.attrs.get_float("alpha", 1.f) != 1.f) return;
      if (mm.has_input(2) && mm.attrs.get_float("beta", 1.f) != 1.f) return;
      trans_b = mm.attrs.get_int("transB", 0) != 0;
    }
    const Node* da = activation_dq(g, idx, mm.inputs[0]);
    auto bshape = static_shape(g, mm.inputs[1]);
    if (!da || !bshape || bshape->size() != 2 || fuse::rank_of(g, mm.inputs[0]) < 2) return;
    const int64_t n_cols = trans_b ? (*bshape)[0] : (*bshape)[1];
    const Node* db = weight_dq(g, idx, mm.inputs[1], trans_b ? 0 : 1, n_cols);
    if (!db) return;
    const bool has_bias = gemm && mm.has_input(2);
    const std::vector<double> bias = has_bias ? bias_values(g, idx, mm.inputs[2], n_cols) : std::vector<double>{};
    if (has_bias && bias.empty()) return;
    auto end = quant_end(g, idx, mm.outputs[0]);
    if (!end) return;
    std::vector<size_t> removed;
    if (!claim_pattern(rw, mi, *end, &removed)) return;
    const Node& q = g.nodes[end->q];
    std::string b = db->inputs[0], bzp = db->has_input(2) ? db->inputs[2] : "";
    if (trans_b) {  // [N, K] -> [K, N]
      const Tensor* w = constant_value(g, b);
      const int64_t nn = w->dim(0), k = w->dim(1);
      Tensor t(DType::kInt8, {k, nn});
      for (int64_t r = 0; r < nn; ++r)
        for (int64_t c = 0; c < k; ++c) t.data<int8_t>()[c * nn + r] = w->data<int8_t>()[r * k + c];
      b = g.add_constant(mm.name + "_b_transposed", std::move(t));
    }
    if (bzp.empty() || trans_b) {  // a zero point of B's per-column shape (QLinearMatMul requires one)
      const Tensor* s = fuse::constant_f32(g, db->inputs[1]);
      Tensor z(DType::kInt8, s->numel() == 1 ? Dims{} : Dims{s->numel()});
      for (int64_t c = 0; c < z.numel(); ++c) z.data<int8_t>()[c] = 0;
      bzp = g.add_constant(mm.name + "_b_zero_point", std::move(z));
    }
    std::vector<std::string> in{
        da->inputs[0], da->inputs[1], zero_point_of(g, *da, mm.name + "_a"), b, db->inputs[1], bzp,
        q.inputs[1],   q.inputs[2]};
    if (has_bias) {  // int32 bias in accumulator units (a_scale * b_scale[c]), Kiln's input 8
      const double as = fuse::constant_f32(g, da->inputs[1])->data<float>()[0];
      const Tensor* bs = fuse::constant_f32(g, db->inputs[1]);
      Tensor t(DType::kInt32, {n_cols});
      for (int64_t c = 0; c < n_cols; ++c) {
        const double v = std::nearbyint(bias[c] / (as * bs->data<float>()[bs->numel() == 1 ? 0 : c]));
        if (!(std::fabs(v) < 2147483647.0)) return;
        t.data<int32_t>()[c] = static_cast<int32_t>(v);
      }
      in.push_back(g.add_constant(mm.name + "_bias_int32", std::move(t)));
    }
    Node n = fuse::fused_node(mm, OpKind::kQLinearMatMul, in, {q.outputs[0]}, 10);
    n.attrs = Attrs();
    n.attrs.set("saturate", int64_t{1});
    rw.replace(end->q, {std::move(n)}, removed);
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_pass() { return std::make_unique<FoldQdq>(false); }
std::unique_ptr<Pass> make_fold_qdq_binary_pass() { return std::make_unique<FoldQdq>(true); }

}  // namespace kiln
