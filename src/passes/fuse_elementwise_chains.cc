// fuse_elementwise_chains (cuda, late): maximal connected groups of float elementwise ops, joined through values
// that only the next op of the group reads, become one FusedElementwise whose program replays them in float32
// (docs/fused-ops.md). Scalar constant initializers become `#` constants; groups of one op stay as they are.
#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using fuse::GraphIndex;
using fused::EwOp;
using fused::Operand;

// The CUDA kernel's limits (docs/fused-ops.md): larger groups are left unfused.
constexpr size_t kMaxSteps = 48;
constexpr size_t kMaxInputs = 8;

// The program op for an ONNX elementwise node (parameters go to `params`), or nullopt.
std::optional<EwOp> ew_op_of(const Graph& g, const Node& n, std::vector<float>* params) {
  params->clear();
  switch (n.op) {
    case OpKind::kAdd:
      return EwOp::kAdd;
    case OpKind::kSub:
      return EwOp::kSub;
    case OpKind::kMul:
      return EwOp::kMul;
    case OpKind::kDiv:
      return EwOp::kDiv;
    case OpKind::kPow:
      return EwOp::kPow;
    case OpKind::kMax:
      return n.inputs.size() == 2 ? std::optional(EwOp::kMax) : std::nullopt;
    case OpKind::kMin:
      return n.inputs.size() == 2 ? std::optional(EwOp::kMin) : std::nullopt;
    case OpKind::kNeg:
      return EwOp::kNeg;
    case OpKind::kAbs:
      return EwOp::kAbs;
    case OpKind::kRelu:
      return EwOp::kRelu;
    case OpKind::kSigmoid:
      return EwOp::kSigmoid;
    case OpKind::kTanh:
      return EwOp::kTanh;
    case OpKind::kExp:
      return EwOp::kExp;
    case OpKind::kLog:
      return EwOp::kLog;
    case OpKind::kSqrt:
      return EwOp::kSqrt;
    case OpKind::kReciprocal:
      return EwOp::kReciprocal;
    case OpKind::kErf:
      return EwOp::kErf;
    case OpKind::kFloor:
      return EwOp::kFloor;
    case OpKind::kCeil:
      return EwOp::kCeil;
    case OpKind::kGelu: {
      const std::string a = n.attrs.get_string("approximate", "none");
      if (a == "none") return EwOp::kGelu;
      if (a == "tanh") return EwOp::kGeluTanh;
      return std::nullopt;
    }
    case OpKind::kLeakyRelu:
      params->push_back(n.attrs.get_float("alpha", 0.01f));
      return EwOp::kLeakyRelu;
    case OpKind::kClip: {
      float lo = n.attrs.get_float("min", -std::numeric_limits<float>::infinity());
      float hi = n.attrs.get_float("max", std::numeric_limits<float>::infinity());
      for (size_t i = 1; i < 3; ++i) {
        if (!n.has_input(i)) continue;
        auto v = scalar_constant(g, n.inputs[i]);
        if (!v) return std::nullopt;
        (i == 1 ? lo : hi) = static_cast<float>(*v);
      }
      params->assign({lo, hi});
      return EwOp::kClip;
    }
    default:
      return std::nullopt;
  }
}

bool is_fusible_dtype(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

// A node the pass may put in a group: a known op, a float output, and every data input of the output's dtype
// unless it is a scalar constant (which becomes a `#` operand).
bool eligible(const Graph& g, const Node& n) {
  std::vector<float> params;
  if (n.outputs.size() != 1 || n.outputs[0].empty()) return false;
  const auto op = ew_op_of(g, n, &params);
  if (!op) return false;
  const TypeInfo* t = g.type_of(n.outputs[0]);
  if (!t || !t->is_tensor() || !is_fusible_dtype(t->dtype)) return false;
  const size_t data_inputs = n.op == OpKind::kClip ? 1 : n.inputs.size();
  if (n.op != OpKind::kClip && static_cast<int>(data_inputs + params.size()) != fused::ew_arity(*op))
    return false;  // a malformed operand count
  for (size_t i = 0; i < data_inputs; ++i) {
    if (!n.has_input(i)) return false;
    if (scalar_constant(g, n.inputs[i])) continue;
    const TypeInfo* it = g.type_of(n.inputs[i]);
    if (!it || it->dtype != t->dtype) return false;
  }
  return true;
}

class FuseElementwiseChains : public Pass {
 public:
  std::string name() const override { return "fuse_elementwise_chains"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    GraphIndex idx(g);
    const size_t n = g.nodes.size();
    std::vector<bool> ok(n);
    for (size_t i = 0; i < n; ++i) ok[i] = eligible(g, g.nodes[i]);
    // parent[i]: the group member that alone reads node i's output (i is absorbed into it), or n.
    std::vector<size_t> parent(n, n);
    std::vector<std::vector<size_t>> children(n);
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i]) continue;
      auto c = idx.sole_consumer(g.nodes[i].outputs[0]);
      if (!c || !ok[*c] || (g.nodes[*c].op == OpKind::kClip && g.nodes[*c].inputs[0] != g.nodes[i].outputs[0]))
        continue;
      parent[i] = *c;
      children[*c].push_back(i);
    }
    fuse::Rewriter rw(g);
    for (size_t root = 0; root < n; ++root) {
      if (!ok[root] || parent[root] != n || children[root].empty()) continue;
      // Post-order over the group: children first, so every s<j> refers to an earlier step.
      std::vector<size_t> order;
      std::function<void(size_t)> visit = [&](size_t v) {
        for (size_t c : children[v]) visit(c);
        order.push_back(v);
      };
      visit(root);
      // Scalar constants become `#` operands. A constant of rank > 0 can still widen the output's rank (x[4] +
      // c[1,1] is [1,4]); when the remaining inputs do not reach the output's rank, only rank-0 ones are inlined.
      const DType out_dt = g.type_of(g.nodes[root].outputs[0])->dtype;
      const int64_t out_rank = fuse::rank_of(g, g.nodes[root].outputs[0]);
      std::vector<std::string> inputs, program;
      auto build = [&](bool inline_ranked) {
        std::map<size_t, int> step_of;
        inputs.clear();
        program.clear();
        for (size_t v : order) {
          const Node& node = g.nodes[v];
          std::vector<float> params;
          fused::Step step;
          step.op = *ew_op_of(g, node, &params);
          const size_t data_inputs = node.op == OpKind::kClip ? 1 : node.inputs.size();
          for (size_t i = 0; i < data_inputs; ++i) {
            const std::string& in = node.inputs[i];
            Operand o;
            auto p = idx.producer_index(in);
            auto c = scalar_constant(g, in);
            if (p && parent[*p] == v) {
              o.kind = Operand::Kind::kStep;
              o.index = step_of.at(*p);
            } else if (c && (inline_ranked || fuse::rank_of(g, in) == 0)) {
              o.kind = Operand::Kind::kConst;
              o.value = static_cast<float>(*c);
            } else {
              auto it = std::find(inputs.begin(), inputs.end(), in);
              o.index = static_cast<int>(it - inputs.begin());
              if (it == inputs.end()) inputs.push_back(in);
            }
            step.args.push_back(o);
          }
          for (float p : params) step.args.push_back(Operand{Operand::Kind::kConst, 0, p});
          step_of[v] = static_cast<int>(program.size());
          program.push_back(step.to_string());
        }
        // The output must be the inputs' broadcast (same rank) and x0..xk must carry the output dtype.
        int64_t max_rank = inputs.empty() ? -1 : 0;
        for (const auto& in : inputs) {
          const TypeInfo* t = g.type_of(in);
          if (!t || t->dtype != out_dt || fuse::rank_of(g, in) < 0) return false;
          max_rank = std::max(max_rank, fuse::rank_of(g, in));
        }
        return out_rank >= 0 && max_rank == out_rank;
      };
      if (!build(true) && !build(false)) continue;
      if (inputs.size() > kMaxInputs || program.size() > kMaxSteps) continue;
      std::vector<size_t> removed(order.begin(), order.end() - 1);
      Node fused = fuse::fused_node(g.nodes[root], OpKind::kFusedElementwise, inputs, {g.nodes[root].outputs[0]}, 1);
      fused.attrs.set("program", program);
      rw.replace(root, {std::move(fused)}, removed);
    }
    if (!rw.changed()) return false;
    return rw.commit();
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_elementwise_chains_pass() { return std::make_unique<FuseElementwiseChains>(); }

}  // namespace kiln
