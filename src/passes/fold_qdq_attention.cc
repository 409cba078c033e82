// fold_qdq_attention: in Q/DQ models, the QuantizeLinear -> DequantizeLinear pairs on attention's score path (between
// the Q.K^T MatMul and the P.V MatMul: the raw scores, the scaled and masked scores, the softmax probabilities) are
// bypassed, so fuse_attention turns the block into one float32 Attention over the dequantized Q, K and V.
// ONNX Runtime's quantize_static quantizes every MatMul, Mul, Add and Softmax output, so a Q/DQ transformer
// otherwise materializes its [heads, S, S] scores several times over in float32 and 8-bit (Whisper-tiny's encoder,
// S = 1500: 180 of 200 ms). TensorRT's fused MHA keeps these values in higher precision too, and Kiln's own
// `--precision int8` never quantizes them. NOT exact with respect to the Q/DQ graph: the scores and probabilities
// keep float32 precision (closer to the float model, measured in docs/int8.md). `kiln build --exact-qdq` skips this
// pass and runs every Q/DQ pair as written. Q, K and V stay quantized (their DequantizeLinear feed the Attention), as
// does the attention output's QuantizeLinear.
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

constexpr int kMaxSteps = 16;

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// A DequantizeLinear reading a per-tensor 8-bit QuantizeLinear: the float value the pair stands for, else "".
std::string fake_quant_source(const Graph& g, const fuse::GraphIndex& idx, const Node& dq) {
  if (dq.op != OpKind::kDequantizeLinear || dq.attrs.get_int("block_size", 0) != 0) return "";
  const TypeInfo* t = g.type_of(dq.inputs[0]);
  if (!t || !is_q8(t->dtype)) return "";
  const Node* q = idx.producer_of(dq.inputs[0], OpKind::kQuantizeLinear);
  if (!q || q->attrs.get_int("block_size", 0) != 0) return "";
  for (const Node* n : {q, &dq}) {
    const Tensor* s = n->inputs.size() > 1 ? constant_value(g, n->inputs[1]) : nullptr;
    if (!s || s->numel() != 1) return "";
  }
  const TypeInfo* x = g.type_of(q->inputs[0]);
  return x && x->dtype == DType::kFloat32 ? q->inputs[0] : "";
}

// A MatMul of two computed (non-constant) values: attention's Q.K^T or P.V.
bool is_activation_matmul(const Graph& g, const Node& n) {
  return n.op == OpKind::kMatMul && n.inputs.size() == 2 && !constant_value(g, n.inputs[0]) &&
         !constant_value(g, n.inputs[1]);
}

struct Bypass {
  size_t node;
  size_t input;
  std::string value;
};

// Walks back from `v` (a Softmax input) to the Q.K^T MatMul through element-wise score ops (scaling, masking,
// casts) and fake-quant pairs, recording the pairs to bypass. false when no such MatMul is reached.
bool walk_scores(const Graph& g, const fuse::GraphIndex& idx, size_t reader, size_t slot, int depth,
                 std::vector<Bypass>* out) {
  if (depth > kMaxSteps) return false;
  const std::string v = g.nodes[reader].inputs[slot];
  const std::optional<size_t> p = idx.producer_index(v);
  if (!p) return false;
  const Node& n = g.nodes[*p];
  const std::string src = fake_quant_source(g, idx, n);
  if (!src.empty()) {
    const std::optional<size_t> q = idx.producer_index(n.inputs[0]);
    const std::optional<size_t> before = idx.producer_index(src);
    out->push_back({reader, slot, src});
    // Continue from the QuantizeLinear's input as if the pair were gone.
    if (!q || !before) return false;
    return walk_scores(g, idx, *q, 0, depth + 1, out);
  }
  if (is_activation_matmul(g, n)) return true;
  switch (n.op) {
    case OpKind::kMul: case OpKind::kDiv: case OpKind::kAdd: case OpKind::kSub: case OpKind::kWhere:
    case OpKind::kCast: {
      // The score operand: the first non-constant input that leads to the MatMul (a mask is the other one).
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (n.inputs[i].empty() || constant_value(g, n.inputs[i])) continue;
        if (n.op == OpKind::kWhere && i == 0) continue;  // the condition
        std::vector<Bypass> tried;
        if (walk_scores(g, idx, *p, i, depth + 1, &tried)) {
          out->insert(out->end(), tried.begin(), tried.end());
          return true;
        }
      }
      return false;
    }
    default:
      return false;
  }
}

class FoldQdqAttention : public Pass {
 public:
  std::string name() const override { return "fold_qdq_attention"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    fuse::GraphIndex idx(g);
    std::vector<Bypass> all;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      if (g.nodes[k].op != OpKind::kSoftmax) continue;
      std::vector<Bypass> found;
      if (!walk_scores(g, idx, k, 0, 0, &found)) continue;
      // Forward: Softmax -> Q -> DQ -> the P.V MatMul (as its P).
      auto q = idx.sole_consumer(g.nodes[k].outputs[0]);
      if (!q || g.nodes[*q].op != OpKind::kQuantizeLinear) continue;
      bool to_matmul = false;
      for (size_t c : idx.consumer_nodes(g.nodes[*q].outputs[0])) {
        const Node& dq = g.nodes[c];
        if (fake_quant_source(g, idx, dq) != g.nodes[k].outputs[0]) continue;
        for (size_t m : idx.consumer_nodes(dq.outputs[0])) {
          if (!is_activation_matmul(g, g.nodes[m]) || g.nodes[m].inputs[0] != dq.outputs[0]) continue;
          found.push_back({m, 0, g.nodes[k].outputs[0]});
          to_matmul = true;
        }
      }
      if (!to_matmul || found.size() < 2) continue;
      all.insert(all.end(), found.begin(), found.end());
    }
    for (const Bypass& b : all) g.nodes[b.node].inputs[b.input] = b.value;
    return !all.empty();
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_qdq_attention_pass() { return std::make_unique<FoldQdqAttention>(); }

}  // namespace kiln
