// fold_qdq_fp8: DequantizeLinear(float8 x) and DequantizeLinear(constant float8 weight) -> MatMul | Gemm [-> bias
// Add] becomes one FusedMatMul over the float8 values (docs/fused-ops.md, docs/int8.md "FP8"): the FP8 GEMM of
// `--precision fp8` and of FP8 Q/DQ models (NVIDIA ModelOpt's FP8 export, `kiln calibrate --precision fp8`).
// Folded only where the result is the unfused graph's up to the float32 rounding of the product:
//  - x: DequantizeLinear of a float8 value with a constant scalar float32 scale and a zero (or no) zero point;
//  - weight: DequantizeLinear of a constant 2-D float8 initializer with a scalar float32 scale, zero point zero;
//  - a Gemm needs transA 0; alpha and the scales multiply into FusedMatMul's alpha; a constant [N] C (times beta)
//    or a constant [N] Add after a MatMul becomes the bias, otherwise the bias is zeros (float8 products need one:
//    it gives Y's float type).
// The weight is stored [N, K] (transB = 1): FP8 tensor-core GEMMs read both operands K-major. Wanted by backends
// with an FP8 GEMM (cuda); others keep Q/DQ, whose constant weights fold to float. fuse_matmul_bias_activation
// later takes a residual Add and an activation into the result.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// A constant float32 scalar (a per-tensor scale).
const Tensor* scalar_f32(const Graph& g, const std::string& v) {
  const Tensor* t = fuse::constant_f32(g, v);
  return t && t->numel() == 1 ? t : nullptr;
}

// A per-tensor DequantizeLinear of a float8 value: constant scalar float32 scale, zero point absent or zero.
const Node* float8_dq(const Graph& g, const GraphIndex& idx, const std::string& value) {
  const Node* dq = idx.producer_of(value, OpKind::kDequantizeLinear);
  if (!dq || dq->inputs.size() < 2 || dq->attrs.get_int("block_size", 0) != 0) return nullptr;
  if (dq->attrs.get_int("output_dtype", 0) != 0 && dq->attrs.get_int("output_dtype", 0) != 1) return nullptr;
  const TypeInfo* t = g.type_of(dq->inputs[0]);
  if (!t || !is_float8(t->dtype) || !scalar_f32(g, dq->inputs[1])) return nullptr;
  if (dq->has_input(2)) {
    const Tensor* z = constant_value(g, dq->inputs[2]);
    if (!z || z->numel() != 1 || z->as_double(0) != 0) return nullptr;
  }
  return dq;
}

// `c` as a float32 [n] vector times `scale` when it is a constant float32 of n (or 1) values with unit leading dims.
std::optional<Tensor> bias_vector(const Tensor* c, int64_t n, double scale) {
  return fuse::column_vector(c, n, c ? static_cast<int64_t>(c->rank()) : 0, DType::kFloat32, scale);
}

class FoldQdqFp8 : public Pass {
 public:
  std::string name() const override { return "fold_qdq_fp8"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& op = g.nodes[i];
      if ((op.op == OpKind::kMatMul || op.op == OpKind::kGemm) && op.outputs.size() == 1 && !rw.claimed({i}))
        fold(g, idx, rw, i);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }

 private:
  static void fold(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t mi) {
    const Node& mm = g.nodes[mi];
    const bool gemm = mm.op == OpKind::kGemm;
    if (mm.inputs.size() < 2) return;
    double alpha = 1, beta = 1;
    bool trans_b = false;
    if (gemm) {
      if (mm.attrs.get_int("transA", 0) != 0) return;
      alpha = mm.attrs.get_float("alpha", 1.f);
      beta = mm.attrs.get_float("beta", 1.f);
      trans_b = mm.attrs.get_int("transB", 0) != 0;
    }
    const Node* da = float8_dq(g, idx, mm.inputs[0]);
    const Node* db = float8_dq(g, idx, mm.inputs[1]);
    if (!da || !db || fuse::rank_of(g, mm.inputs[0]) < 2) return;
    const Tensor* w = constant_value(g, db->inputs[0]);
    const TypeInfo* yt = g.type_of(mm.outputs[0]);
    if (!w || w->rank() != 2 || !yt || yt->dtype != DType::kFloat32) return;
    const int64_t n = trans_b ? w->dim(0) : w->dim(1), k = trans_b ? w->dim(1) : w->dim(0);
    std::vector<size_t> removed;
    std::string y = mm.outputs[0];
    size_t last = mi;
    std::optional<Tensor> bias;
    if (gemm && mm.has_input(2) && beta != 0) {
      bias = bias_vector(constant_value(g, mm.inputs[2]), n, beta);
      if (!bias) return;  // a runtime or full-size C stays with the unfused Gemm
    } else if (!gemm) {
      auto ai = idx.sole_consumer(y);
      if (ai && g.nodes[*ai].op == OpKind::kAdd) {
        auto other = fuse::other_input(g.nodes[*ai], y);
        const Tensor* c = other ? constant_value(g, *other) : nullptr;
        // Only a vector that leaves Y's shape alone: [n] (or [1, .., n]) against Y's last dim n.
        if (c && c->numel() == n && static_cast<int64_t>(c->rank()) <= fuse::rank_of(g, y))
          bias = bias_vector(c, n, 1.0);
        if (bias) {
          removed.push_back(mi);
          last = *ai;
          y = g.nodes[*ai].outputs[0];
        }
      }
    }
    if (!bias) {
      bias = Tensor(DType::kFloat32, {n});
      for (int64_t c = 0; c < n; ++c) bias->data<float>()[c] = 0.f;
    }
    std::vector<size_t> all = removed;
    all.push_back(last);
    if (rw.claimed(all)) return;
    std::string b = db->inputs[0];
    if (!trans_b) {  // [K, N] -> [N, K]: both operands K-major
      Tensor t(w->dtype(), {n, k});
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < n; ++c) t.data<uint8_t>()[c * k + r] = w->data<uint8_t>()[r * n + c];
      b = g.add_constant(mm.name + "_b_nk", std::move(t));
    }
    const double sa = scalar_f32(g, da->inputs[1])->data<float>()[0];
    const double sb = scalar_f32(g, db->inputs[1])->data<float>()[0];
    std::vector<std::string> in{da->inputs[0], b, g.add_constant(mm.name + "_bias", std::move(*bias))};
    Node f = fuse::fused_node(mm, OpKind::kFusedMatMul, in, {g.nodes[last].outputs[0]}, 1);
    f.attrs = Attrs();
    f.attrs.set("transB", int64_t{1});
    f.attrs.set("alpha", static_cast<float>(alpha * sa * sb));
    rw.replace(last, {std::move(f)}, removed);
  }
};

// fold_qdq_fp8_output, run by the builder after precision lowering (when the FusedMatMul's bias, Z and activation
// have their final types): an FP8 product whose only reader is a QuantizeLinear to float8e4m3fn (per tensor, constant
// scale, zero point zero, saturating) writes the float8 values itself: the reciprocal of the Q's scale becomes
// FusedMatMul's input 4, `y_inv_scale` (float32), and Y is float8e4m3fn = float8(result * y_inv_scale)
// (docs/fused-ops.md; the GEMM epilogue's D scale, equal to the unfused Q up to rounding). Only where the GEMM can do
// it in its epilogue: float16/bfloat16 bias and Z (full-shape Z only), activation none, Relu or GeluTanh. The next
// FP8 GEMM then reads what this one wrote: FFN1 -> GELU -> FFN2 in transformers.
class FoldQdqFp8Output : public Pass {
 public:
  std::string name() const override { return "fold_qdq_fp8_output"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& mm = g.nodes[i];
      if (mm.op != OpKind::kFusedMatMul || mm.inputs.size() < 3 || mm.inputs.size() > 4 || mm.outputs.size() != 1)
        continue;
      const TypeInfo* at = g.type_of(mm.inputs[0]);
      const TypeInfo* bt = g.type_of(mm.inputs[2]);
      const TypeInfo* yt = g.type_of(mm.outputs[0]);
      if (!at || !is_float8(at->dtype) || !bt || !yt || rw.claimed({i})) continue;
      if (bt->dtype != DType::kFloat16 && bt->dtype != DType::kBFloat16) continue;
      const std::string act = mm.attrs.get_string("activation", "");
      if (!act.empty() && act != "Relu" && act != "GeluTanh") continue;
      if (mm.has_input(3)) {  // Z goes in as the GEMM's C: full shape only
        const TypeInfo* zt = g.type_of(mm.inputs[3]);
        if (!zt || zt->shape.to_string() != yt->shape.to_string()) continue;
      }
      auto qi = idx.sole_consumer(mm.outputs[0]);
      if (!qi || rw.claimed({*qi})) continue;
      const Node& q = g.nodes[*qi];
      if (!fuse::is_absorbable_fp8_quantize(g, q)) continue;
      const Tensor* s = constant_value(g, q.inputs[1]);
      std::vector<std::string> in = mm.inputs;
      in.resize(4);
      const float inv = static_cast<float>(1.0 / s->as_double(0));
      in.push_back(g.add_constant(mm.name + "_y_inv_scale", Tensor::scalar(DType::kFloat32, inv)));
      Node f = fuse::fused_node(mm, OpKind::kFusedMatMul, in, {q.outputs[0]}, 1);
      f.attrs = mm.attrs;
      rw.replace(*qi, {std::move(f)}, {i});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_fp8_pass() { return std::make_unique<FoldQdqFp8>(); }
std::unique_ptr<Pass> make_fold_qdq_fp8_output_pass() { return std::make_unique<FoldQdqFp8Output>(); }

}  // namespace kiln
