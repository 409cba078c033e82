// fuse_qconv_add: QLinearConv -> QLinearAdd(conv output, R) becomes one FusedQLinearConv (docs/fused-ops.md) that
// adds the residual R before its single requantization, for backends that run it (cpu: oneDNN's sum post-op). Not
// bit-exact: the conv output is no longer rounded to 8 bits before the Add (one rounding instead of two; results
// move by at most one quantization step, towards the float model), so --exact-qdq leaves the pair alone.
// Applies when the conv's output has no other reader and is not a graph output, the Add reads it with the conv's own
// y_scale / y_zero_point (the QuantizeLinear -> DequantizeLinear pair fold_qdq removed), R has exactly the conv
// output's shape (the same dims, symbolic ones by name), and the Add's C_zero_point is given (it fixes the fused
// output's type). The file also holds fuse_qmatmul_bias (below), the same idea for a GEMM's 8-bit bias Add.
#include <cmath>
#include <cstring>

#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// The same scalar quantization parameter: one value, or two constants of one element with the same type and bytes
// (both absent counts as the same default).
bool same_parameter(const Graph& g, const std::string& a, const std::string& b) {
  if (a == b) return true;
  const Tensor* ta = a.empty() ? nullptr : constant_value(g, a);
  const Tensor* tb = b.empty() ? nullptr : constant_value(g, b);
  if (!ta || !tb || ta->dtype() != tb->dtype() || ta->numel() != 1 || tb->numel() != 1) return false;
  return std::memcmp(ta->raw(), tb->raw(), dtype_size(ta->dtype())) == 0;
}

bool is_8bit_value(const Graph& g, const std::string& v) {
  const TypeInfo* t = g.type_of(v);
  return t && t->is_tensor() && (t->dtype == DType::kInt8 || t->dtype == DType::kUInt8);
}

std::string input_or_empty(const Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); }

// The sweep both passes share: every QLinearAdd with a C_zero_point and one output is offered to fuse(); none
// with --exact-qdq.
class QLinearAddFusion : public Pass {
 public:
  Result<bool> run(Graph& g, const PassOptions& options) override {
    if (options.exact_qdq) return false;
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t ai = 0; ai < g.nodes.size(); ++ai) {
      const Node& add = g.nodes[ai];
      if (add.op == OpKind::kQLinearAdd && add.inputs.size() >= 8 && !add.inputs[7].empty() && add.outputs.size() == 1)
        fuse(g, idx, rw, ai);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }

 protected:
  // Rewrites the QLinearAdd at node `ai` (through rw) when its pattern applies.
  virtual void fuse(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t ai) = 0;
};

// fuse_qconv_add (QLinearConv -> FusedQLinearConv) and fuse_qmatmul_add (QLinearMatMul with saturate=1 -> the same
// QLinearMatMul with Kiln's residual inputs 9-11: R, R_scale, R_zero_point; docs/int8.md): the residual Add of a
// producer's output joins the producer.
class FuseResidualAdd : public QLinearAddFusion {
 public:
  explicit FuseResidualAdd(OpKind producer) : producer_(producer) {}
  std::string name() const override {
    return producer_ == OpKind::kQLinearConv ? "fuse_qconv_add" : "fuse_qmatmul_add";
  }

 protected:
  bool producer_fits(const Node& n) const {
    if (n.op != producer_ || n.outputs.size() != 1) return false;
    if (producer_ == OpKind::kQLinearConv) return n.attrs.get_string("layout", "NCHW") == "NCHW";
    return n.attrs.get_int("saturate", 0) == 1 && n.inputs.size() >= 8 && !n.has_input(9);
  }

  void fuse(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t ai) override {
    const Node& add = g.nodes[ai];
    if (add.inputs[0] == add.inputs[3]) return;
    // The operand to fuse: a producer's output read only by this Add; the later producer when both are.
    std::optional<size_t> conv_i;
    size_t operand = 0;  // 0: A, 3: B
    for (size_t k : {size_t{0}, size_t{3}}) {
      auto pi = idx.producer_index(add.inputs[k]);
      if (!pi || !producer_fits(g.nodes[*pi]) || idx.sole_consumer(add.inputs[k]) != ai) continue;
      const Node& conv = g.nodes[*pi];
      if (!same_parameter(g, input_or_empty(conv, 6), add.inputs[k + 1]) ||
          !same_parameter(g, input_or_empty(conv, 7), input_or_empty(add, k + 2)))
        continue;
      if (!conv_i || *pi > *conv_i) conv_i = *pi, operand = k;
    }
    if (!conv_i) return;
    const Node& conv = g.nodes[*conv_i];
    const size_t rk = operand == 0 ? 3 : 0;
    const std::string& r = add.inputs[rk];
    const TypeInfo* yt = g.type_of(conv.outputs[0]);
    const TypeInfo* rt = g.type_of(r);
    if (!is_8bit_value(g, r) || !yt || !rt || !yt->shape.rank_known || !fuse::same_shape(yt->shape, rt->shape)) return;
    if (rw.claimed({*conv_i, ai})) return;
    std::vector<std::string> inputs(conv.inputs.begin(), conv.inputs.end());
    inputs.resize(9);
    inputs[6] = add.inputs[6];  // the Add's output quantization
    inputs[7] = add.inputs[7];
    inputs.insert(inputs.end(), {r, add.inputs[rk + 1], input_or_empty(add, rk + 2)});
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
    const bool is_conv = producer_ == OpKind::kQLinearConv;
    Node fused = fuse::fused_node(conv, is_conv ? OpKind::kFusedQLinearConv : OpKind::kQLinearMatMul, inputs,
                                  {add.outputs[0]}, is_conv ? 1 : conv.opset);
    fused.attrs = conv.attrs;
    rw.replace(ai, {std::move(fused)}, {*conv_i});
  }

 private:
  OpKind producer_;
};

// fuse_qmatmul_bias: QLinearMatMul (saturate=1) -> QLinearAdd(its output, an 8-bit constant bias of its last dim)
// becomes the QLinearMatMul with Kiln's int32 bias (input 8, accumulator units: round(bias / (a_scale * b_scale[n])),
// added to a bias it had) and the Add's output quantization: a Linear layer's bias Add in ONNX Runtime's Q/DQ models,
// which quantize the bias like an activation. Not bit-exact (the bias is no longer rounded to 8 bits and the product
// no longer rounded before the Add), so --exact-qdq leaves the pair alone.
class FuseQMatMulBias : public QLinearAddFusion {
 public:
  std::string name() const override { return "fuse_qmatmul_bias"; }

 protected:
  void fuse(Graph& g, const GraphIndex& idx, fuse::Rewriter& rw, size_t ai) override {
    const Node& add = g.nodes[ai];
    for (size_t k : {size_t{0}, size_t{3}}) {
      auto pi = idx.producer_index(add.inputs[k]);
      if (!pi || g.nodes[*pi].op != OpKind::kQLinearMatMul || idx.sole_consumer(add.inputs[k]) != ai) continue;
      const Node& mm = g.nodes[*pi];
      if (mm.attrs.get_int("saturate", 0) != 1 || mm.inputs.size() < 8 || mm.outputs.size() != 1 ||
          !same_parameter(g, mm.inputs[6], add.inputs[k + 1]) ||
          !same_parameter(g, mm.inputs[7], input_or_empty(add, k + 2)))
        continue;
      const size_t bk = k == 0 ? 3 : 0;
      const TypeInfo* yt = g.type_of(mm.outputs[0]);
      const Tensor* bias8 = constant_value(g, add.inputs[bk]);
      const Tensor* bias_scale = fuse::constant_f32(g, add.inputs[bk + 1]);
      const std::string bias_zp_name = input_or_empty(add, bk + 2);
      const Tensor* bias_zp = bias_zp_name.empty() ? nullptr : constant_value(g, bias_zp_name);
      const Tensor* a_scale = fuse::constant_f32(g, mm.inputs[1]);
      const Tensor* b_scale = fuse::constant_f32(g, mm.inputs[4]);
      if (!yt || !yt->shape.rank_known || yt->shape.rank() < 1 || !yt->shape.dims.back().is_known() || !bias8 ||
          !is_8bit_value(g, add.inputs[bk]) || !bias_scale || bias_scale->numel() != 1 ||
          (!bias_zp_name.empty() && (!bias_zp || bias_zp->numel() != 1 || bias_zp->dtype() != bias8->dtype())) ||
          !a_scale || a_scale->numel() != 1 || !b_scale)
        continue;
      const int64_t n = yt->shape.dims.back().value;
      // The constant is one value per output column: [N], or [1, ..., 1, N] no longer than Y's rank.
      bool per_column = bias8->numel() == n && bias8->rank() >= 1 && bias8->rank() <= yt->shape.rank();
      for (size_t d = 0; per_column && d + 1 < bias8->rank(); ++d) per_column = bias8->dim(d) == 1;
      if (!per_column || (b_scale->numel() != 1 && b_scale->numel() != n)) continue;
      const Tensor* old_bias = mm.has_input(8) ? constant_value(g, mm.inputs[8]) : nullptr;
      if (mm.has_input(8) && (!old_bias || old_bias->dtype() != DType::kInt32 || old_bias->numel() != n)) continue;
      const double zp = bias_zp ? bias_zp->as_double(0) : 0.0;
      Tensor acc_bias(DType::kInt32, {n});
      bool fits = true;
      for (int64_t c = 0; c < n && fits; ++c) {
        const double real = double(bias_scale->data<float>()[0]) * (bias8->as_double(c) - zp);
        const double unit = double(a_scale->data<float>()[0]) * b_scale->data<float>()[b_scale->numel() == 1 ? 0 : c];
        const double v = std::nearbyint(real / unit) + (old_bias ? old_bias->as_double(c) : 0.0);
        fits = unit > 0 && std::fabs(v) < 2147483647.0;
        if (fits) acc_bias.data<int32_t>()[c] = static_cast<int32_t>(v);
      }
      if (!fits || rw.claimed({*pi, ai})) continue;
      std::vector<std::string> inputs(mm.inputs.begin(), mm.inputs.begin() + 8);
      inputs[6] = add.inputs[6];  // the Add's output quantization
      inputs[7] = add.inputs[7];
      inputs.push_back(g.add_constant(mm.name + "_bias_int32_fused", std::move(acc_bias)));
      Node fused = fuse::fused_node(mm, OpKind::kQLinearMatMul, inputs, {add.outputs[0]}, mm.opset);
      fused.attrs = mm.attrs;
      rw.replace(ai, {std::move(fused)}, {*pi});
      return;
    }
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_qconv_add_pass() { return std::make_unique<FuseResidualAdd>(OpKind::kQLinearConv); }
std::unique_ptr<Pass> make_fuse_qmatmul_add_pass() { return std::make_unique<FuseResidualAdd>(OpKind::kQLinearMatMul); }
std::unique_ptr<Pass> make_fuse_qmatmul_bias_pass() { return std::make_unique<FuseQMatMulBias>(); }

}  // namespace kiln
