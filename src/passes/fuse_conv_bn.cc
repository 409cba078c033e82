// fuse_conv_bn: Conv (constant W, optional constant B) followed by inference BatchNormalization with constant
// statistics becomes one Conv with the normalization folded into W and B.
#include <cmath>

#include "ir/norm_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

// A float32/float64 tensor read as doubles (the folding computes in double).
bool read_doubles(const Tensor* t, std::vector<double>* out) {
  if (!t || (t->dtype() != DType::kFloat32 && t->dtype() != DType::kFloat64)) return false;
  out->resize(t->numel());
  for (int64_t i = 0; i < t->numel(); ++i) (*out)[i] = t->as_double(i);
  return true;
}

Tensor tensor_like(DType dt, const Dims& dims, const std::vector<double>& v) {
  Tensor t(dt, dims);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::kFloat32)
      t.data<float>()[i] = static_cast<float>(v[i]);
    else
      t.data<double>()[i] = v[i];
  }
  return t;
}

class FuseConvBn : public Pass {
 public:
  std::string name() const override { return "fuse_conv_bn"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    fuse::GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t bi = 0; bi < g.nodes.size(); ++bi) {
      const Node& bn = g.nodes[bi];
      if (bn.op != OpKind::kBatchNormalization || bn.inputs.size() != 5) continue;
      // Inference form only: training_mode off and just the Y output.
      auto bn_params = batch_norm_params(bn.attrs);
      if (!bn_params.ok() || bn_params->training_mode) continue;
      bool extra_outputs = false;
      for (size_t o = 1; o < bn.outputs.size(); ++o) extra_outputs |= !bn.outputs[o].empty();
      if (extra_outputs) continue;
      auto ci = idx.producer_index(bn.inputs[0]);
      if (!ci || g.nodes[*ci].op != OpKind::kConv || g.nodes[*ci].inputs.size() < 2 ||
          !idx.only_read_by(bn.inputs[0], bi))
        continue;
      const Node& conv = g.nodes[*ci];
      if (rw.claimed({*ci, bi})) continue;
      const Tensor* w = constant_value(g, conv.inputs[1]);
      std::vector<double> wv, cb, scale, beta, mean, var;
      if (!read_doubles(w, &wv) || w->rank() < 3) continue;
      const int64_t m = w->dim(0);
      if (!read_doubles(constant_value(g, bn.inputs[1]), &scale) ||
          !read_doubles(constant_value(g, bn.inputs[2]), &beta) ||
          !read_doubles(constant_value(g, bn.inputs[3]), &mean) || !read_doubles(constant_value(g, bn.inputs[4]), &var))
        continue;
      if (scale.size() != static_cast<size_t>(m) || beta.size() != scale.size() || mean.size() != scale.size() ||
          var.size() != scale.size())
        continue;
      if (conv.has_input(2)) {
        if (!read_doubles(constant_value(g, conv.inputs[2]), &cb) || cb.size() != static_cast<size_t>(m)) continue;
      } else {
        cb.assign(m, 0.0);
      }
      const double eps = bn_params->epsilon;
      // y = (conv + cb - mean) * s + beta with s = scale / sqrt(var + eps): W' = W * s[m], B' = (cb - mean) * s + beta.
      const int64_t per_m = w->numel() / m;
      std::vector<double> b_new(m);
      for (int64_t o = 0; o < m; ++o) {
        const double s = scale[o] / std::sqrt(var[o] + eps);
        for (int64_t j = 0; j < per_m; ++j) wv[o * per_m + j] *= s;
        b_new[o] = (cb[o] - mean[o]) * s + beta[o];
      }
      const std::string w_name = g.add_constant(conv.inputs[1] + "_bnfold", tensor_like(w->dtype(), w->dims(), wv));
      const std::string b_name = g.add_constant(conv.name + "_bnfold_bias", tensor_like(w->dtype(), {m}, b_new));
      Node fused = conv;
      fused.inputs = {conv.inputs[0], w_name, b_name};
      fused.outputs = {bn.outputs[0]};
      rw.replace(bi, {std::move(fused)}, {*ci});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_bn_pass() { return std::make_unique<FuseConvBn>(); }

}  // namespace kiln
