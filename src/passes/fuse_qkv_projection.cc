// fuse_qkv_projection: the three projections of self-attention (Q, K and V each a MatMul/FusedMatMul of the same A
// with a constant [K, N] weight and an optional constant bias; or three FP8 products with one alpha) become ONE
// FusedMatMul with the weights and biases concatenated along N, and the 3-D Attention reads its packed [B, S, Nq+Nk+Nv]
// output (packed_qkv = 1, docs/fused-ops.md). One fuller GEMM instead of three small ones: fewer launches at batch 1,
// better tiles at large batch.
#include <cstring>
#include <optional>

#include "ir/attention_params.h"
#include "ir/op_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// One matched projection: Y = A @ W (+ bias), or an FP8 product Y = alpha * A @ W^T + bias (fold_qdq_fp8's form:
// float8 A, W [N, K], the bias required).
struct Projection {
  size_t node = 0;
  std::string a;
  const Tensor* w = nullptr;     // [K, N]; [N, K] when fp8
  const Tensor* bias = nullptr;  // [N] or nullptr
  bool fp8 = false;
  float alpha = 1.f;
  int64_t k() const { return fp8 ? w->dim(1) : w->dim(0); }
  int64_t n() const { return fp8 ? w->dim(0) : w->dim(1); }
};

// The projection producing `value` when it is a plain one read only by node `reader`: MatMul, or FusedMatMul with
// no transpose, alpha 1, no Z and no activation; a constant 2-D float weight and, if any, a constant [N] bias of the
// weight's dtype.
std::optional<Projection> match_projection(const Graph& g, const GraphIndex& idx, const std::string& value,
                                           size_t reader) {
  auto pi = idx.producer_index(value);
  if (!pi || !idx.only_read_by(value, reader)) return std::nullopt;
  const Node& n = g.nodes[*pi];
  if (n.outputs.size() != 1 || n.outputs[0] != value || n.inputs.size() < 2) return std::nullopt;
  Projection p;
  p.node = *pi;
  p.a = n.inputs[0];
  const TypeInfo* at = g.type_of(n.inputs[0]);
  p.fp8 = n.op == OpKind::kFusedMatMul && at && is_float8(at->dtype);
  std::optional<GemmParams> gp;
  if (n.op == OpKind::kFusedMatMul) {
    auto parsed = gemm_params(n.attrs);
    if (!parsed.ok()) return std::nullopt;
    gp = *parsed;
  }
  if (p.fp8) {
    if (gp->trans_a || !gp->trans_b || n.inputs.size() != 3 || !n.attrs.get_string("activation", "").empty())
      return std::nullopt;
    p.alpha = gp->alpha;
    p.bias = constant_value(g, n.inputs[2]);
    p.w = constant_value(g, n.inputs[1]);
    if (!p.bias || !p.w || p.w->rank() != 2 || !is_float8(p.w->dtype()) || p.bias->rank() != 1 ||
        p.bias->dim(0) != p.w->dim(0) || fuse::rank_of(g, p.a) != 3)
      return std::nullopt;
    return p;
  }
  if (n.op == OpKind::kFusedMatMul) {
    if (gp->trans_a || gp->trans_b || gp->alpha != 1.f || !n.attrs.get_string("activation", "").empty() ||
        n.has_input(3))
      return std::nullopt;
    if (n.has_input(2)) {
      p.bias = constant_value(g, n.inputs[2]);
      if (!p.bias) return std::nullopt;
    }
  } else if (n.op != OpKind::kMatMul || n.inputs.size() != 2) {
    return std::nullopt;
  }
  p.w = constant_value(g, n.inputs[1]);
  if (!p.w || p.w->rank() != 2 || p.w->dim(1) <= 0 || !fuse::is_float_value(g, n.inputs[1])) return std::nullopt;
  if (p.bias && (p.bias->rank() != 1 || p.bias->dim(0) != p.w->dim(1) || p.bias->dtype() != p.w->dtype()))
    return std::nullopt;
  if (fuse::rank_of(g, p.a) != 3) return std::nullopt;  // [B, S, K]: the Attention's 3-D form
  return p;
}

// Row-wise concatenation of [rows, n_i] tensors of one dtype into [rows, sum n_i] (byte copies).
Tensor concat_columns(const std::vector<const Tensor*>& parts, int64_t rows) {
  int64_t total = 0;
  for (const Tensor* t : parts) total += t->numel() / rows;
  const size_t es = dtype_size(parts[0]->dtype());
  Tensor out(parts[0]->dtype(), {rows, total});
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t r = 0; r < rows; ++r) {
    for (const Tensor* t : parts) {
      const size_t row_bytes = static_cast<size_t>(t->numel() / rows) * es;
      std::memcpy(dst, static_cast<const uint8_t*>(t->raw()) + r * row_bytes, row_bytes);
      dst += row_bytes;
    }
  }
  return out;
}

class FuseQkvProjection : public Pass {
 public:
  std::string name() const override { return "fuse_qkv_projection"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t ai = 0; ai < g.nodes.size(); ++ai) {
      const Node& at = g.nodes[ai];
      if (at.op != OpKind::kAttention || at.inputs.size() < 3) continue;
      auto ap = attention_params(at.attrs);
      if (!ap.ok() || ap->packed_qkv) continue;  // a bad attribute is inference's error to report, not ours
      // Self-attention in the 3-D form, no KV cache and no extra outputs (what the packed kernels are built for).
      bool extra = false;
      for (size_t k = 4; k < at.inputs.size(); ++k) extra |= !at.inputs[k].empty();
      for (size_t o = 1; o < at.outputs.size(); ++o) extra |= !at.outputs[o].empty();
      const int64_t hq = ap->q_num_heads, hkv = ap->kv_num_heads;
      if (extra || hq <= 0 || hkv <= 0 || hq % hkv != 0) continue;
      const std::string &q = at.inputs[0], &k = at.inputs[1], &v = at.inputs[2];
      if (q == k || q == v || k == v) continue;
      auto pq = match_projection(g, idx, q, ai);
      auto pk = match_projection(g, idx, k, ai);
      auto pv = match_projection(g, idx, v, ai);
      if (!pq || !pk || !pv || pq->a != pk->a || pq->a != pv->a) continue;
      const int64_t kdim = pq->k(), nq = pq->n(), nk = pk->n(), nv = pv->n();
      if (pk->k() != kdim || pv->k() != kdim) continue;
      if (pk->w->dtype() != pq->w->dtype() || pv->w->dtype() != pq->w->dtype()) continue;
      if ((pq->bias == nullptr) != (pk->bias == nullptr) || (pq->bias == nullptr) != (pv->bias == nullptr)) continue;
      // FP8 products fuse when they share alpha (the same activation and weight scales: the FP8 calibration gives
      // GEMMs reading one tensor one weight scale) and bias dtype.
      if (pk->fp8 != pq->fp8 || pv->fp8 != pq->fp8 || pk->alpha != pq->alpha || pv->alpha != pq->alpha) continue;
      if (pq->bias && (pk->bias->dtype() != pq->bias->dtype() || pv->bias->dtype() != pq->bias->dtype())) continue;
      // Head sizes: Q and K share D; the packed form also needs V's head size D (Nk == Nv), so that the kernels can
      // split the packed row from q_num_heads and kv_num_heads alone.
      if (nq % hq != 0 || nk != hkv * (nq / hq) || nv != nk) continue;
      if (rw.claimed({ai, pq->node, pk->node, pv->node})) continue;

      // [K, N] weights concatenate along N column-wise; FP8's [N, K] ones stack (one row block each).
      const std::string w = g.add_constant(
          at.name + "_qkv_weight", pq->fp8 ? concat_columns({pq->w, pk->w, pv->w}, 1).reshaped({nq + nk + nv, kdim})
                                           : concat_columns({pq->w, pk->w, pv->w}, kdim));
      std::vector<std::string> inputs{pq->a, w};
      if (pq->bias)
        inputs.push_back(g.add_constant(at.name + "_qkv_bias",
                                        concat_columns({pq->bias, pk->bias, pv->bias}, 1).reshaped({nq + nk + nv})));
      const std::string packed = g.fresh_name(at.name + "_qkv");
      Node mm = fuse::fused_node(g.nodes[pq->node], OpKind::kFusedMatMul, inputs, {packed}, 1);
      mm.name = g.fresh_name(at.name + "_qkv_projection");
      if (pq->fp8) {
        mm.attrs = Attrs();
        mm.attrs.set("transB", int64_t{1});
        mm.attrs.set("alpha", pq->alpha);
      }
      Node attn = at;
      attn.inputs[0] = packed;
      attn.inputs[1] = "";
      attn.inputs[2] = "";
      attn.attrs.set("packed_qkv", int64_t{1});
      rw.replace(ai, {std::move(mm), std::move(attn)}, {pq->node, pk->node, pv->node});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_qkv_projection_pass() { return std::make_unique<FuseQkvProjection>(); }

}  // namespace kiln
