// fuse_conv_activation: Conv [+ constant per-channel bias] [+ residual Z of Y's shape] [+ activation] becomes one
// FusedConv (docs/fused-ops.md); a plain Conv becomes a FusedConv too, so every float conv reaches one kernel.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// A constant that adds one value per output channel to a conv output of rank `rank` with `m` channels:
// right-aligned, dim 1 of the output is m and every other dim is 1 ([1,M,1,1], [M,1,1], ...). Its values as [M].
std::optional<std::vector<double>> per_channel(const Tensor* t, int64_t rank, int64_t m) {
  if (!t || static_cast<int64_t>(t->rank()) > rank || t->numel() != m || rank - static_cast<int64_t>(t->rank()) > 1)
    return std::nullopt;
  const int64_t offset = rank - static_cast<int64_t>(t->rank());  // t's dim i aligns with output dim i + offset
  for (size_t i = 0; i < t->rank(); ++i) {
    const int64_t want = static_cast<int64_t>(i) + offset == 1 ? m : 1;
    if (t->dim(i) != want) return std::nullopt;
  }
  std::vector<double> v(m);
  for (int64_t i = 0; i < m; ++i) v[i] = t->as_double(i);
  return v;
}

Tensor vector_of(DType dt, const std::vector<double>& v) {
  Tensor t(dt, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::kFloat64)
      t.data<double>()[i] = v[i];
    else
      t.data<float>()[i] = static_cast<float>(v[i]);
  }
  return t;
}

class FuseConvActivation : public Pass {
 public:
  std::string name() const override { return "fuse_conv_activation"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
      const Node& conv = g.nodes[ci];
      if (conv.op != OpKind::kConv || conv.inputs.size() < 2 || conv.outputs.size() != 1) continue;
      if (!fuse::is_float_value(g, conv.inputs[0]) || !fuse::is_float_value(g, conv.outputs[0])) continue;
      if (rw.claimed({ci})) continue;
      const TypeInfo* yt = g.type_of(conv.outputs[0]);
      const DType dt = yt->dtype;
      const int64_t rank = fuse::rank_of(g, conv.outputs[0]);
      auto wshape = static_shape(g, conv.inputs[1]);
      if (wshape && wshape->size() < 3) wshape.reset();
      std::vector<size_t> removed;
      size_t last = ci;
      std::string y = conv.outputs[0], bias = conv.has_input(2) ? conv.inputs[2] : "", z;

      // Constant per-channel bias Add (folded into B when the conv has a constant one).
      auto ai = idx.sole_consumer(y);
      if (ai && g.nodes[*ai].op == OpKind::kAdd && wshape && rank >= 3 &&
          (dt == DType::kFloat32 || dt == DType::kFloat64)) {
        auto other = fuse::other_input(g.nodes[*ai], y);
        auto pc = other ? per_channel(constant_value(g, *other), rank, (*wshape)[0]) : std::nullopt;
        const Tensor* old_b = bias.empty() ? nullptr : constant_value(g, bias);
        if (pc && constant_value(g, *other)->dtype() == dt && (bias.empty() || old_b)) {
          if (old_b)
            for (size_t i = 0; i < pc->size(); ++i) (*pc)[i] += old_b->as_double(i);
          bias = g.add_constant(conv.name + "_bias", vector_of(dt, *pc));
          removed.push_back(last);
          last = *ai;
          y = g.nodes[*ai].outputs[0];
        }
      }
      // Residual Add of another value with exactly Y's shape.
      ai = idx.sole_consumer(y);
      if (ai && g.nodes[*ai].op == OpKind::kAdd) {
        auto other = fuse::other_input(g.nodes[*ai], y);
        const TypeInfo* ot = other && *other != y ? g.type_of(*other) : nullptr;
        if (ot && ot->dtype == dt && fuse::same_shape(ot->shape, yt->shape)) {
          z = *other;
          removed.push_back(last);
          last = *ai;
          y = g.nodes[*ai].outputs[0];
        }
      }
      fused::Activation act;
      if (auto am = fuse::match_activation(g, idx, y)) {
        act = am->act;
        removed.push_back(last);
        removed.insert(removed.end(), am->nodes.begin(), am->nodes.end() - 1);
        last = am->last;
      }
      std::vector<size_t> all = removed;
      all.push_back(last);
      if (rw.claimed(all)) continue;
      std::vector<std::string> inputs{conv.inputs[0], conv.inputs[1], bias};
      if (!z.empty()) inputs.push_back(z);
      while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
      Node fused = fuse::fused_node(conv, OpKind::kFusedConv, inputs, {g.nodes[last].outputs[0]}, 1);
      fused.attrs = conv.attrs;
      fused::set_activation(fused.attrs, act);
      fused.attrs.set("layout", std::string("NCHW"));
      rw.replace(last, {std::move(fused)}, removed);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_activation_pass() { return std::make_unique<FuseConvActivation>(); }

}  // namespace kiln
