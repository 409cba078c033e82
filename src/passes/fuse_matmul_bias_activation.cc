// fuse_matmul_bias_activation: MatMul [+ constant [N] bias] [+ residual Z] [+ activation] and every Gemm become one
// FusedMatMul (docs/fused-ops.md). Gemm's C becomes the bias (scaled by beta) when it is a constant [N] or scalar,
// otherwise Z (a constant C is pre-scaled by beta; a runtime C needs beta == 1). An operand that is a Transpose of
// only its last two axes, read by this MatMul alone, becomes transA/transB (the GEMM reads it transposed; no copy:
// attention's K^T in unfused attention blocks). A MatMul with nothing to absorb stays a MatMul.
#include <optional>

#include "ir/op_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;

// True when a value of shape `z` broadcasts to `y` without changing it (right-aligned dims equal or 1).
bool broadcasts_into(const Shape& z, const Shape& y) {
  if (!z.rank_known || !y.rank_known || z.rank() > y.rank()) return false;
  const size_t off = y.rank() - z.rank();
  for (size_t i = 0; i < z.rank(); ++i) {
    const Dim& zd = z.dims[i];
    if (zd.is_known() && zd.value == 1) continue;
    if (!fuse::same_dim(zd, y.dims[i + off])) return false;
  }
  return true;
}

// `v` = Transpose(x) of the last two axes only (batch axes in order), read by node `reader` alone: returns x.
std::optional<std::string> last_two_swapped(const Graph& g, const GraphIndex& idx, const std::string& v, size_t reader) {
  const Node* t = idx.producer_of(v, OpKind::kTranspose);
  if (!t || t->inputs.empty() || !idx.only_read_by(v, reader)) return std::nullopt;
  const int64_t r = fuse::rank_of(g, t->inputs[0]);
  if (r < 2) return std::nullopt;
  auto perm = transpose_perm(t->attrs, r);
  if (!perm.ok()) return std::nullopt;
  for (int64_t i = 0; i < r - 2; ++i)
    if ((*perm)[i] != i) return std::nullopt;
  if ((*perm)[r - 2] != r - 1 || (*perm)[r - 1] != r - 2) return std::nullopt;
  return t->inputs[0];
}

// A FusedMatMul over float8 operands as fold_qdq_fp8 makes it (A, B, bias; no Z, no activation yet): the residual
// Add and the activation after it are absorbed like a MatMul's.
bool float8_product(const Graph& g, const Node& n) {
  if (n.op != OpKind::kFusedMatMul || n.inputs.size() != 3 || !n.attrs.get_string("activation", "").empty())
    return false;
  const TypeInfo* a = g.type_of(n.inputs[0]);
  return a && is_float8(a->dtype);
}

class FuseMatMulBiasActivation : public Pass {
 public:
  std::string name() const override { return "fuse_matmul_bias_activation"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    fuse::Rewriter rw(g);
    for (size_t mi = 0; mi < g.nodes.size(); ++mi) {
      const Node& mm = g.nodes[mi];
      const bool gemm = mm.op == OpKind::kGemm;
      const bool fp8 = float8_product(g, mm);
      if ((mm.op != OpKind::kMatMul && !gemm && !fp8) || mm.inputs.size() < 2 || mm.outputs.size() != 1) continue;
      if ((!fp8 && !fuse::is_float_value(g, mm.inputs[0])) || !fuse::is_float_value(g, mm.outputs[0]) ||
          rw.claimed({mi}))
        continue;
      if (fuse::rank_of(g, mm.inputs[0]) < 2 || fuse::rank_of(g, mm.inputs[1]) < 2) continue;  // vector operands
      const TypeInfo* yt = g.type_of(mm.outputs[0]);
      const DType dt = yt->dtype;
      const int64_t rank = fuse::rank_of(g, mm.outputs[0]);
      const int64_t n = rank >= 2 && yt->shape.dims.back().is_known() ? yt->shape.dims.back().value : -1;
      Attrs attrs;
      std::string a = mm.inputs[0], b = mm.inputs[1];
      bool folded = false;
      std::string bias, z, y = mm.outputs[0];
      std::vector<size_t> removed;
      size_t last = mi;
      if (fp8) {
        attrs = mm.attrs;
        bias = mm.inputs[2];
        // A constant bias Add that fold_qdq_fp8 could not see yet (behind an Identity until constants folded) joins
        // the product's own bias.
        auto ai = idx.sole_consumer(y);
        const Tensor* b0 = constant_value(g, bias);
        if (ai && g.nodes[*ai].op == OpKind::kAdd && b0 && b0->dtype() == DType::kFloat32 && b0->numel() == n) {
          auto other = fuse::other_input(g.nodes[*ai], y);
          if (auto v = other ? fuse::column_vector(constant_value(g, *other), n, rank, dt, 1.0) : std::nullopt;
              v && dt == DType::kFloat32) {
            for (int64_t i = 0; i < n; ++i) v->data<float>()[i] += b0->data<float>()[i];
            bias = g.add_constant(mm.name + "_bias", *v);
            removed.push_back(last);
            last = *ai;
            y = g.nodes[*ai].outputs[0];
          }
        }
      } else if (gemm) {
        attrs.set("transA", mm.attrs.get_int("transA", 0));
        attrs.set("transB", mm.attrs.get_int("transB", 0));
        attrs.set("alpha", mm.attrs.get_float("alpha", 1.f));
        const double beta = mm.attrs.get_float("beta", 1.f);
        if (mm.has_input(2) && beta != 0) {
          const Tensor* c = constant_value(g, mm.inputs[2]);
          if (auto v = fuse::column_vector(c, n, 2, dt, beta)) {
            bias = g.add_constant(mm.name + "_bias", *v);
          } else if (c && beta != 1 && (dt == DType::kFloat32 || dt == DType::kFloat64)) {
            Tensor scaled(dt, c->dims());
            for (int64_t i = 0; i < c->numel(); ++i) {
              if (dt == DType::kFloat64)
                scaled.data<double>()[i] = c->as_double(i) * beta;
              else
                scaled.data<float>()[i] = static_cast<float>(c->as_double(i) * beta);
            }
            z = g.add_constant(mm.name + "_c", scaled);
          } else if (beta == 1) {
            z = mm.inputs[2];
          } else {
            continue;  // runtime C with beta != 1: left as Gemm
          }
        }
      } else {
        if (auto x = last_two_swapped(g, idx, a, mi)) {
          a = *x;
          attrs.set("transA", int64_t{1});
          folded = true;
        }
        if (auto x = last_two_swapped(g, idx, b, mi)) {
          b = *x;
          attrs.set("transB", int64_t{1});
          folded = true;
        }
        // Constant bias Add.
        auto ai = idx.sole_consumer(y);
        if (ai && g.nodes[*ai].op == OpKind::kAdd) {
          auto other = fuse::other_input(g.nodes[*ai], y);
          auto v = other ? fuse::column_vector(constant_value(g, *other), n, rank, dt, 1.0) : std::nullopt;
          if (v) {
            bias = g.add_constant(mm.name + "_bias", *v);
            removed.push_back(last);
            last = *ai;
            y = g.nodes[*ai].outputs[0];
          }
        }
      }
      // Residual Add of a value that broadcasts into Y.
      auto ai = idx.sole_consumer(y);
      if (z.empty() && ai && g.nodes[*ai].op == OpKind::kAdd) {
        auto other = fuse::other_input(g.nodes[*ai], y);
        const TypeInfo* ot = other && *other != y ? g.type_of(*other) : nullptr;
        if (ot && ot->dtype == dt && broadcasts_into(ot->shape, yt->shape)) {
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
      if (!gemm && last == mi && !folded) continue;  // nothing to absorb: a plain MatMul (or FP8 product) stays
      std::vector<size_t> all = removed;
      all.push_back(last);
      if (rw.claimed(all)) continue;
      std::vector<std::string> inputs{a, b, bias};
      if (!z.empty()) inputs.push_back(z);
      while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
      Node fused = fuse::fused_node(mm, OpKind::kFusedMatMul, inputs, {g.nodes[last].outputs[0]}, 1);
      fused.attrs = attrs;
      fused::set_activation(fused.attrs, act);
      rw.replace(last, {std::move(fused)}, removed);
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_matmul_bias_activation_pass() { return std::make_unique<FuseMatMulBiasActivation>(); }

}  // namespace kiln
