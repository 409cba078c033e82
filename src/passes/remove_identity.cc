// remove_identity: drops nodes that pass their data input through unchanged (Identity, inference Dropout,
// same-dtype Cast, shape no-ops, identity Transpose, zero Pad, full Slice, one-input Concat).
#include <memory>
#include <set>

#include "passes/pass.h"
#include "passes/pass_util.h"

namespace kiln {

namespace {

bool same_static_shape(const Graph& g, const std::string& a, const std::string& b) {
  auto sa = static_shape(g, a), sb = static_shape(g, b);
  return sa && sb && *sa == *sb;
}

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

// True when node `n` returns input 0 unchanged as output 0 and has no other observable output.
bool is_identity(const Graph& g, const Node& n, const std::map<std::string, std::vector<Use>>& uses) {
  if (!n.has_input(0) || !n.has_output(0)) return false;
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    if (!n.has_output(i)) continue;
    // A second output (Dropout's mask) that someone reads keeps the node.
    if (uses.count(n.outputs[i]) || is_graph_output(g, n.outputs[i])) return false;
  }
  const std::string& x = n.inputs[0];
  const std::string& y = n.outputs[0];
  switch (n.op) {
    case OpKind::kIdentity:
      return true;
    case OpKind::kDropout: {
      // Inference mode: training_mode absent or a constant false. The ratio does not matter then.
      if (!n.has_input(2)) return true;
      auto mode = scalar_constant(g, n.inputs[2]);
      return mode && *mode == 0.0;
    }
    case OpKind::kCast: {
      const TypeInfo* t = g.type_of(x);
      if (!t || !t->is_tensor() || t->dtype == DType::kUndefined || !n.attrs.has("to")) return false;
      DType to;
      return dtype_from_int(n.attrs.get_int("to", -1), &to) && to == t->dtype;
    }
    case OpKind::kReshape:
    case OpKind::kExpand:
    case OpKind::kFlatten: {
      const TypeInfo* tx = g.type_of(x);
      const TypeInfo* ty = g.type_of(y);
      return tx && ty && tx->dtype == ty->dtype && same_static_shape(g, x, y);
    }
    case OpKind::kTranspose: {
      const TypeInfo* tx = g.type_of(x);
      if (!n.attrs.has("perm")) return tx && tx->is_tensor() && tx->shape.rank_known && tx->shape.rank() <= 1;
      std::vector<int64_t> perm = n.attrs.get_ints("perm");
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] != static_cast<int64_t>(i)) return false;
      return true;
    }
    case OpKind::kPad: {
      auto pads = int_constant(g, n.inputs.size() > 1 ? n.inputs[1] : "");
      return pads && all_equal(*pads, 0);
    }
    case OpKind::kSlice: {
      // Steps of 1 (or none) and an output as large as the input: the slice covers every element.
      if (n.has_input(4)) {
        auto steps = int_constant(g, n.inputs[4]);
        if (!steps || !all_equal(*steps, 1)) return false;
      }
      return same_static_shape(g, x, y);
    }
    case OpKind::kConcat:
      return n.inputs.size() == 1;
    default:
      return false;
  }
}

class RemoveIdentity : public Pass {
 public:
  std::string name() const override { return "remove_identity"; }
  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    // One node at a time: rewiring changes names other candidates read.
    for (bool again = true; again;) {
      again = false;
      auto uses = build_use_map(g);
      for (size_t k = 0; k < g.nodes.size(); ++k) {
        const Node& n = g.nodes[k];
        if (!is_identity(g, n, uses)) continue;
        const std::string x = n.inputs[0], y = n.outputs[0];
        if (!replace_value_keep_output(g, y, x)) continue;  // e.g. a graph input passed straight to an output
        remove_nodes(g, {k});
        changed = again = true;
        break;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_remove_identity_pass() { return std::make_unique<RemoveIdentity>(); }

}  // namespace kiln
