// batch_norm_as_depthwise (cpu): an inference BatchNormalization that no convolution absorbed (fuse_conv_bn runs
// first: what is left are pre-activation blocks' BN -> ReLU -> Conv, a BN after Concat or Add) over a 4-D float32
// tensor with constant statistics becomes a 1x1 depthwise Conv, W[c] = scale / sqrt(var + eps) and
// B[c] = beta - mean * W[c], so fuse_conv_activation folds the activation after it into the same pass and the
// backend runs it as a convolution on its own layout (the CPU backend's channel-blocked hand-off, as ONNX Runtime's
// NCHWc transformer does with BatchNormalization). The same arithmetic as a BatchNormalization kernel, up to the
// rounding of the folded coefficients.
#include <cmath>

#include "ir/norm_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

bool read_floats(const Tensor* t, int64_t n, std::vector<double>* out) {
  if (!t || t->dtype() != DType::kFloat32 || t->numel() != n) return false;
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) (*out)[i] = t->as_double(i);
  return true;
}

class BatchNormAsDepthwise : public Pass {
 public:
  std::string name() const override { return "batch_norm_as_depthwise"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    fuse::Rewriter rw(g);
    for (size_t bi = 0; bi < g.nodes.size(); ++bi) {
      const Node& bn = g.nodes[bi];
      if (bn.op != OpKind::kBatchNormalization || bn.inputs.size() != 5 || bn.outputs.empty()) continue;
      auto params = batch_norm_params(bn.attrs);
      if (!params.ok() || params->training_mode) continue;
      bool extra_outputs = false;
      for (size_t o = 1; o < bn.outputs.size(); ++o) extra_outputs |= !bn.outputs[o].empty();
      if (extra_outputs) continue;
      const TypeInfo* xt = g.type_of(bn.inputs[0]);
      if (!xt || xt->dtype != DType::kFloat32 || !xt->shape.rank_known || xt->shape.dims.size() != 4) continue;
      const Tensor* scale_t = constant_value(g, bn.inputs[1]);
      if (!scale_t) continue;
      const int64_t c = scale_t->numel();
      if (c <= 0 || (xt->shape.dims[1].is_known() && xt->shape.dims[1].value != c)) continue;
      std::vector<double> scale, beta, mean, var;
      if (!read_floats(scale_t, c, &scale) || !read_floats(constant_value(g, bn.inputs[2]), c, &beta) ||
          !read_floats(constant_value(g, bn.inputs[3]), c, &mean) || !read_floats(constant_value(g, bn.inputs[4]), c, &var))
        continue;
      if (rw.claimed({bi})) continue;
      Tensor w(DType::kFloat32, {c, 1, 1, 1}), b(DType::kFloat32, {c});
      for (int64_t i = 0; i < c; ++i) {
        const double s = scale[i] / std::sqrt(var[i] + params->epsilon);
        w.data<float>()[i] = static_cast<float>(s);
        b.data<float>()[i] = static_cast<float>(beta[i] - mean[i] * s);
      }
      Node conv;
      conv.op = OpKind::kConv;
      conv.name = bn.name;
      conv.opset = bn.opset;
      conv.inputs = {bn.inputs[0], g.add_constant(bn.name + "_dw_w", std::move(w)),
                     g.add_constant(bn.name + "_dw_b", std::move(b))};
      conv.outputs = {bn.outputs[0]};
      conv.attrs.set("group", c);
      conv.attrs.set("kernel_shape", std::vector<int64_t>{1, 1});
      rw.replace(bi, {std::move(conv)}, {});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_batch_norm_as_depthwise_pass() { return std::make_unique<BatchNormAsDepthwise>(); }

}  // namespace kiln
