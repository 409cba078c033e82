// fuse_qconv_add: QLinearConv -> QLinearAdd(conv output, R) becomes one FusedQLinearConv (docs/fused-ops.md) that
// adds the residual R before its single requantization, for backends that run it (cpu: oneDNN's sum post-op). Not
// bit-exact: the conv output is no longer rounded to 8 bits before the Add (one rounding instead of two; results
// move by at most one quantization step, towards the float model), so --exact-qdq leaves the pair alone.
// Applies when the conv's output has no other reader and is not a graph output, the Add reads it with the conv's own
// y_scale / y_zero_point (the QuantizeLinear -> DequantizeLinear pair fold_qdq removed), R has exactly the conv
// output's shape (the same dims, symbolic ones by name), and the Add's C_zero_point is given (it fixes the fused
// output's type).
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

class FuseQConvAdd : public Pass {
 public:
  std::string name() const override { return "fuse_qconv_add"; }

  Result<bool> run(Graph& g, const PassOptions& options) override {
    if (options.exact_qdq) return false;
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t ai = 0; ai < g.nodes.size(); ++ai) {
      const Node& add = g.nodes[ai];
      if (add.op != OpKind::kQLinearAdd || add.inputs.size() < 8 || add.inputs[7].empty() ||
          add.outputs.size() != 1 || add.inputs[0] == add.inputs[3])
        continue;
      // The operand to fuse: a QLinearConv output read only by this Add; the later conv when both are.
      std::optional<size_t> conv_i;
      size_t operand = 0;  // 0: A, 3: B
      for (size_t k : {size_t{0}, size_t{3}}) {
        auto pi = idx.producer_index(add.inputs[k]);
        if (!pi || g.nodes[*pi].op != OpKind::kQLinearConv || idx.sole_consumer(add.inputs[k]) != ai) continue;
        const Node& conv = g.nodes[*pi];
        if (conv.outputs.size() != 1 || conv.attrs.get_string("layout", "NCHW") != "NCHW") continue;
        if (!same_parameter(g, input_or_empty(conv, 6), add.inputs[k + 1]) ||
            !same_parameter(g, input_or_empty(conv, 7), input_or_empty(add, k + 2)))
          continue;
        if (!conv_i || *pi > *conv_i) conv_i = *pi, operand = k;
      }
      if (!conv_i) continue;
      const Node& conv = g.nodes[*conv_i];
      const size_t rk = operand == 0 ? 3 : 0;
      const std::string& r = add.inputs[rk];
      const TypeInfo* yt = g.type_of(conv.outputs[0]);
      const TypeInfo* rt = g.type_of(r);
      if (!is_8bit_value(g, r) || !yt || !rt || !yt->shape.rank_known || !fuse::same_shape(yt->shape, rt->shape))
        continue;
      if (rw.claimed({*conv_i, ai})) continue;
      std::vector<std::string> inputs(conv.inputs.begin(), conv.inputs.end());
      inputs.resize(9);
      inputs[6] = add.inputs[6];  // the Add's output quantization
      inputs[7] = add.inputs[7];
      inputs.insert(inputs.end(), {r, add.inputs[rk + 1], input_or_empty(add, rk + 2)});
      while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
      Node fused = fuse::fused_node(conv, OpKind::kFusedQLinearConv, inputs, {add.outputs[0]}, 1);
      fused.attrs = conv.attrs;
      rw.replace(ai, {std::move(fused)}, {*conv_i});
    }
    if (!rw.changed()) return false;
    return rw.commit();
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_qconv_add_pass() { return std::make_unique<FuseQConvAdd>(); }

}  // namespace kiln
