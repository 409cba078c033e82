// Tests of fold_qdq_attention: the Q/DQ pairs that quantize_static puts on attention's scores, scaled/masked scores
// and probabilities are bypassed (Q, K, V and the output keep theirs) and the block computes what the float model
// computes on the dequantized Q, K, V; chains without a Q.K^T MatMul or a P.V MatMul, and --exact-qdq, stay.
#include "passes/pass_manager.h"
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// Appends value -> QuantizeLinear -> DequantizeLinear ("<value>_q", "<value>_d") with its own uint8 parameters.
std::string fake_quant(GraphBuilder& b, const std::string& v, float scale, int zp) {
  b.constant(v + "_s", scalar_f32(scale)).constant(v + "_z", scalar_q8(DType::kUInt8, zp));
  b.node(OpKind::kQuantizeLinear, {v, v + "_s", v + "_z"}, {v + "_q"});
  b.node(OpKind::kDequantizeLinear, {v + "_q", v + "_s", v + "_z"}, {v + "_d"});
  return v + "_d";
}

// q, k, v [1, 2, 8, 4] -> Q/DQ -> S = Q.K^T -> [Q/DQ] -> * 0.5 -> [Q/DQ] -> + mask -> [Q/DQ] -> Softmax -> [Q/DQ]
// -> P.V -> Q/DQ -> y; `inner`: the bracketed pairs exist (else the float reference of the same block).
Graph attention(bool inner, bool with_pv = true) {
  GraphBuilder b(19);
  b.input("q", {1, 2, 8, 4}).input("k", {1, 2, 8, 4}).input("v", {1, 2, 8, 4}).input("mask", {1, 1, 8, 8});
  const std::string q = fake_quant(b, "q", 0.01f, 128), k = fake_quant(b, "k", 0.01f, 128);
  const std::string v = fake_quant(b, "v", 0.01f, 128);
  b.node(OpKind::kTranspose, {k}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {q, "kt"}, {"s"});
  std::string s = inner ? fake_quant(b, "s", 0.0005f, 100) : "s";
  b.constant("half", scalar_f32(0.5f));
  b.node(OpKind::kMul, {s, "half"}, {"ss"});
  s = inner ? fake_quant(b, "ss", 0.0003f, 110) : "ss";
  b.node(OpKind::kAdd, {s, "mask"}, {"sm"});
  s = inner ? fake_quant(b, "sm", 0.01f, 200) : "sm";
  b.node(OpKind::kSoftmax, {s}, {"p"}).attrs.set("axis", int64_t{-1});
  std::string p = inner ? fake_quant(b, "p", 1.f / 255, 0) : "p";
  if (with_pv) {
    b.node(OpKind::kMatMul, {p, v}, {"o"});
  } else {
    b.constant("w", GraphBuilder::random_tensor({8, 4}, 9));
    b.node(OpKind::kMatMul, {p, "w"}, {"o"});
  }
  b.output(fake_quant(b, "o", 0.002f, 128));
  return b.finish();
}

int count_quantize(const Graph& g) { return count_ops(g, OpKind::kQuantizeLinear); }

TEST(FoldQdqAttention, ScorePathRunsInFloat) {
  auto pass = make_fold_qdq_attention_pass();
  Graph g = attention(true);
  ASSERT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_quantize(g), 4) << print_graph(g);  // q, k, v and the output
  // Exactly the float block over the dequantized Q, K, V.
  expect_same_outputs(attention(false), g, 0.0);
}

TEST(FoldQdqAttention, OtherSoftmaxChainsAndExactQdqStay) {
  auto pass = make_fold_qdq_attention_pass();
  Graph g = attention(true, /*with_pv=*/false);  // probabilities times a weight: not attention
  EXPECT_FALSE(run_pass_checked(*pass, g));
  PassOptions o;
  o.opt_level = 3;
  o.device = "cpu";
  auto has = [](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), "fold_qdq_attention") != v.end();
  };
  EXPECT_TRUE(has(pass_names(o)));
  o.exact_qdq = true;
  EXPECT_FALSE(has(pass_names(o)));
}

}  // namespace
