// fold_qdq_fp8_norm, run by the builder after precision lowering for backends with FP8 GEMMs (cuda): a
// LayerNormalization (last axis, no Mean/InvStdDev) or FusedAddLayerNorm whose Y is read by a QuantizeLinear to
// float8e4m3fn (per tensor, constant positive scale, zero point zero, saturating) writes the float8 values itself,
// as FusedAddLayerNorm's output 1 (attributes fp8_scale and fp8_round_to_x; docs/fused-ops.md). Y stays output 0
// for its other readers (a transformer's residual) and is dropped when the QuantizeLinear was its only one. Exactly
// the unfused result: the kernel quantizes Y as stored, with QuantizeLinear's rounding. In `--precision fp8`
// transformers this removes the QuantizeLinear kernel in front of the QKV and FFN1 GEMMs.
#include "ir/norm_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// The float8 QuantizeLinear among `y`'s readers that the norm can absorb (fuse::is_absorbable_fp8_quantize).
std::optional<size_t> absorbable_quantize(const Graph& g, const GraphIndex& idx, const std::string& y) {
  for (size_t c : idx.consumer_nodes(y))
    if (g.nodes[c].inputs[0] == y && fuse::is_absorbable_fp8_quantize(g, g.nodes[c])) return c;
  return std::nullopt;
}

// True when `n` normalizes the last axis of its input with only Y produced (LayerNormalization) or is a
// FusedAddLayerNorm without a float8 output yet.
bool last_axis_norm(const Graph& g, const Node& n) {
  if (n.op == OpKind::kFusedAddLayerNorm) return n.outputs.size() == 1 && !n.attrs.has("fp8_scale");
  if (n.op != OpKind::kLayerNormalization || n.has_output(1) || n.has_output(2) || !n.has_output(0)) return false;
  const TypeInfo* x = g.type_of(n.inputs[0]);
  auto p = layer_norm_params(n.attrs);
  if (!x || !x->shape.rank_known || !p.ok()) return false;
  auto axis = layer_norm_axis(*p, static_cast<int64_t>(x->shape.rank()));
  if (!axis.ok() || *axis != static_cast<int64_t>(x->shape.rank()) - 1) return false;
  // FusedAddLayerNorm's kernels take B in Scale's dtype.
  if (n.has_input(2)) {
    const TypeInfo* st = g.type_of(n.inputs[1]);
    const TypeInfo* bt = g.type_of(n.inputs[2]);
    if (!st || !bt || st->dtype != bt->dtype) return false;
  }
  return true;
}

class FoldQdqFp8Norm : public Pass {
 public:
  std::string name() const override { return "fold_qdq_fp8_norm"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!last_axis_norm(g, n) || rw.claimed({i})) continue;
      const std::string& y = n.outputs[0];
      const TypeInfo* xt = g.type_of(n.inputs[0]);
      if (!xt || !is_float(xt->dtype)) continue;
      auto qi = absorbable_quantize(g, idx, y);
      if (!qi || rw.claimed({*qi})) continue;
      const Node& q = g.nodes[*qi];
      const Tensor* s = constant_value(g, q.inputs[1]);
      // FusedAddLayerNorm(X, R, Scale, B): a LayerNormalization has no R.
      std::vector<std::string> in;
      if (n.op == OpKind::kFusedAddLayerNorm) {
        in = n.inputs;
      } else {
        in = {n.inputs[0], "", n.inputs[1]};
        if (n.has_input(2)) in.push_back(n.inputs[2]);
      }
      const bool y_read_elsewhere = idx.is_output(y) || idx.consumer_nodes(y).size() > 1;
      Node f = fuse::fused_node(n, OpKind::kFusedAddLayerNorm, in, {y_read_elsewhere ? y : "", q.outputs[0]}, 1);
      f.attrs.set("epsilon", n.attrs.get_float("epsilon", 1e-5f));
      f.attrs.set("axis", int64_t{-1});
      f.attrs.set("fp8_scale", static_cast<float>(s->as_double(0)));
      // QuantizeLinear rounds x / scale to x's dtype when both are the same 16-bit float type.
      const bool half = xt->dtype == DType::kFloat16 || xt->dtype == DType::kBFloat16;
      f.attrs.set("fp8_round_to_x", int64_t{half && s->dtype() == xt->dtype ? 1 : 0});
      rw.replace(i, {std::move(f)}, {*qi});  // at the norm's position: Y's other readers may precede the Q
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_fp8_norm_pass() { return std::make_unique<FoldQdqFp8Norm>(); }

}  // namespace kiln
