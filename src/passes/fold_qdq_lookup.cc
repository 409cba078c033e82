// fold_qdq_lookup: a QuantizeLinear whose float input is an element-wise function of one 8-bit value becomes one
// LookupTable node (Y = Table[X], 256 entries computed at build time by the reference kernels). Q/DQ models wrap
// every activation in DequantizeLinear -> float ops -> QuantizeLinear (SiLU, HardSwish, Sigmoid, GELU, Tanh,
// requantization); as a table each costs one byte lookup per element instead of several float passes
// (docs/int8.md, docs/fused-ops.md).
// The function is found by walking back from the QuantizeLinear through
//  - element-wise ops (activations, unary math, binary arithmetic, Max/Min/Sum/Mean, Clip, PRelu) whose other
//    inputs are single-element constants,
//  - DequantizeLinear / QuantizeLinear with single-element constant scale and zero point (inner Q/DQ pairs),
//  - LookupTable nodes (tables compose),
// to exactly one uint8/int8 value X. At an 8-bit value the walk goes on through its producer when that again
// leads to one 8-bit value, else the value is X. Exact by construction: the table holds what the unfused nodes
// compute for each of the 256 codes. The QuantizeLinear's output must have X's shape (constants that broadcast
// to a larger shape stay unfused). Runs after fold_qdq (its QLinearConv/QLinearMatMul outputs become the X of the
// tables), for the same backends (cpu, cuda). The replaced nodes are left to eliminate_dead_code (other readers keep them).
#include <cstring>
#include <map>
#include <set>

#include "passes/fuse_util.h"
#include "passes/pass.h"
#include "passes/reference_eval.h"

namespace kiln {
namespace {

constexpr size_t kMaxRegionNodes = 64;

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

bool elementwise_op(const Node& n) {
  if (n.outputs.size() != 1 || !node_subgraphs(n).empty()) return false;
  switch (n.op) {
    case OpKind::kAbs: case OpKind::kNeg: case OpKind::kRelu: case OpKind::kSigmoid: case OpKind::kTanh:
    case OpKind::kExp: case OpKind::kLog: case OpKind::kSqrt: case OpKind::kReciprocal: case OpKind::kErf:
    case OpKind::kFloor: case OpKind::kCeil: case OpKind::kRound: case OpKind::kSign: case OpKind::kSoftplus:
    case OpKind::kSoftsign: case OpKind::kHardSigmoid: case OpKind::kHardSwish: case OpKind::kLeakyRelu:
    case OpKind::kElu: case OpKind::kSelu: case OpKind::kCelu: case OpKind::kThresholdedRelu: case OpKind::kGelu:
    case OpKind::kMish: case OpKind::kSwish: case OpKind::kSin: case OpKind::kCos: case OpKind::kIdentity:
    case OpKind::kPRelu: case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv:
    case OpKind::kPow: case OpKind::kMax: case OpKind::kMin: case OpKind::kSum: case OpKind::kMean:
    case OpKind::kClip: case OpKind::kLookupTable:
      return true;
    case OpKind::kQuantizeLinear:
    case OpKind::kDequantizeLinear:
      return n.attrs.get_int("block_size", 0) == 0;
    default:
      return false;
  }
}

// What a value is as a function: `ok` when it is an element-wise function of at most one 8-bit value `x` ("" when
// it is constant), computed by `nodes`.
struct Region {
  bool ok = false;
  std::string x;
  std::set<size_t> nodes;
};

class Walker {
 public:
  Walker(const Graph& g, const fuse::GraphIndex& idx) : g_(g), idx_(idx) {}

  Region value(const std::string& v) {
    auto it = memo_.find(v);
    if (it != memo_.end()) return it->second;
    memo_[v] = Region{};  // a cycle (not in a valid graph) reads as "not a function"
    Region r = compute(v);
    memo_[v] = r;
    return r;
  }

  // The function node `k` computes from its inputs.
  Region node(size_t k) {
    const Node& n = g_.nodes[k];
    Region r;
    r.ok = true;
    r.nodes.insert(k);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      if (n.op == OpKind::kLookupTable && i == 1) {
        const Tensor* t = constant_value(g_, n.inputs[i]);
        if (!t || t->numel() != 256) return {};
        continue;
      }
      Region in = value(n.inputs[i]);
      if (!in.ok || (!in.x.empty() && !r.x.empty() && in.x != r.x)) return {};
      if (!in.x.empty()) r.x = in.x;
      r.nodes.insert(in.nodes.begin(), in.nodes.end());
      if (r.nodes.size() > kMaxRegionNodes) return {};
    }
    return r;
  }

 private:
  Region compute(const std::string& v) {
    if (const Tensor* t = constant_value(g_, v)) return t->numel() == 1 ? Region{true, "", {}} : Region{};
    const TypeInfo* type = g_.type_of(v);
    if (!type || !type->is_tensor()) return {};
    const std::optional<size_t> p = idx_.producer_index(v);
    const bool through = p && elementwise_op(g_.nodes[*p]);
    if (is_q8(type->dtype)) {
      if (through) {
        Region r = node(*p);
        if (r.ok && !r.x.empty()) return r;
      }
      return Region{true, v, {}};
    }
    if (type->dtype != DType::kFloat32 || !through) return {};
    return node(*p);
  }

  const Graph& g_;
  const fuse::GraphIndex& idx_;
  std::map<std::string, Region> memo_;
};

// The 256 codes of an 8-bit type in table order (uint8: 0..255; int8: -128..127).
Tensor all_codes(DType t) {
  Tensor c(t, {256});
  for (int i = 0; i < 256; ++i) {
    if (t == DType::kInt8) c.data<int8_t>()[i] = static_cast<int8_t>(i - 128);
    else c.data<uint8_t>()[i] = static_cast<uint8_t>(i);
  }
  return c;
}

// Runs the region's nodes (graph order is topological) on all codes of x; the table of `out`, or nullopt.
std::optional<Tensor> evaluate_table(const Graph& g, const Region& r, const std::string& out, DType out_type) {
  std::map<std::string, Tensor> values;
  values[r.x] = all_codes(g.type_of(r.x)->dtype);
  for (size_t k : r.nodes) {
    const Node& n = g.nodes[k];
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      auto it = values.find(in);
      const Tensor* t = it != values.end() ? &it->second : constant_value(g, in);
      if (!t) return std::nullopt;
      ins.push_back(t);
    }
    std::optional<std::vector<Tensor>> res = run_reference_node(n, ins);
    if (!res || res->empty() || !(*res)[0].defined()) return std::nullopt;
    values[n.outputs[0]] = (*res)[0];
  }
  auto it = values.find(out);
  if (it == values.end() || it->second.numel() != 256 || it->second.dtype() != out_type) return std::nullopt;
  Tensor table(out_type, {256});
  std::memcpy(table.raw(), it->second.raw(), table.nbytes());
  return table;
}

class FoldQdqLookup : public Pass {
 public:
  std::string name() const override { return "fold_qdq_lookup"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    fuse::GraphIndex idx(g);
    Walker walk(g, idx);
    fuse::Rewriter rw(g);
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      const Node& q = g.nodes[k];
      if (q.op != OpKind::kQuantizeLinear || !elementwise_op(q)) continue;
      const TypeInfo* yt = g.type_of(q.outputs[0]);
      if (!yt || !is_q8(yt->dtype)) continue;
      Region r = walk.node(k);
      if (!r.ok || r.x.empty()) continue;
      const TypeInfo* xt = g.type_of(r.x);
      if (!xt || !xt->shape.rank_known || !fuse::same_shape(xt->shape, yt->shape)) continue;
      std::optional<Tensor> table = evaluate_table(g, r, q.outputs[0], yt->dtype);
      if (!table) continue;
      const std::string t = g.add_constant(q.name + "_table", std::move(*table));
      rw.replace(k, {fuse::fused_node(q, OpKind::kLookupTable, {r.x, t}, {q.outputs[0]}, 1)}, {});
    }
    if (!rw.changed()) return false;
    KILN_ASSIGN_OR_RETURN(const bool applied, rw.commit());
    remove_unused_initializers(g);
    return applied;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_lookup_pass() { return std::make_unique<FoldQdqLookup>(); }

}  // namespace kiln
