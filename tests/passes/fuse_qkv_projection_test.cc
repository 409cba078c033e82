// fuse_qkv_projection: three projections of one A feeding a 3-D Attention become one FusedMatMul and a packed
// Attention (packed_qkv = 1); projections with other readers or other inputs stay.
#include "core/float_formats.h"
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

struct Block {
  bool bias = true;  // FusedMatMul with a constant bias (else plain MatMul)
  int64_t q_heads = 2, kv_heads = 2;
  bool q_extra_reader = false;  // Q's projection output is also a graph output (through Relu)
  bool k_other_a = false;       // K and V project a second input (cross-attention)
  bool causal = false;
};

// x [2, 5, 16] projected to Q [2, 5, Hq*4], K and V [2, 5, Hkv*4]; 3-D Attention with an additive mask.
Graph attention_block(const Block& c) {
  constexpr int64_t kD = 4, kK = 16;
  GraphBuilder b(23);
  b.input("x", {2, 5, kK}).input("x2", {2, 5, kK}).input("mask", {2, 1, 1, 5});
  unsigned seed = 11;
  for (const char* p : {"q", "k", "v"}) {
    const std::string s = p;
    const int64_t n = (s == "q" ? c.q_heads : c.kv_heads) * kD;
    const std::string a = s != "q" && c.k_other_a ? "x2" : "x";
    b.floats("w" + s, {kK, n}, seed++);
    if (c.bias) {
      b.floats("b" + s, {n}, seed++);
      b.node(OpKind::kFusedMatMul, {a, "w" + s, "b" + s}, {s}, 1);
    } else {
      b.node(OpKind::kMatMul, {a, "w" + s}, {s});
    }
  }
  Node& at = b.node(OpKind::kAttention, {"q", "k", "v", "mask"}, {"y"});
  at.attrs.set("q_num_heads", c.q_heads);
  at.attrs.set("kv_num_heads", c.kv_heads);
  if (c.causal) at.attrs.set("is_causal", int64_t{1});
  b.output("y");
  if (c.q_extra_reader) {
    b.node(OpKind::kRelu, {"q"}, {"q_relu"});
    b.output("q_relu");
  }
  return b.finish();
}

const Node* find_op(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

// Runs the pass; when `fused`, checks the packed form and equal outputs, else that nothing changed.
void check(const Block& c, bool fused) {
  Graph g = attention_block(c);
  Graph before = g;
  const int matmuls = count_ops(g, OpKind::kMatMul) + count_ops(g, OpKind::kFusedMatMul);
  ASSERT_EQ(matmuls, 3);
  auto pass = make_fuse_qkv_projection_pass();
  EXPECT_EQ(run_pass_checked(*pass, g), fused) << print_graph(g);
  if (!fused) {
    EXPECT_EQ(count_ops(g, OpKind::kMatMul) + count_ops(g, OpKind::kFusedMatMul), 3);
    EXPECT_EQ(find_op(g, OpKind::kAttention)->attrs.get_int("packed_qkv", 0), 0);
    return;
  }
  EXPECT_EQ(count_ops(g, OpKind::kMatMul), 0) << print_graph(g);
  ASSERT_EQ(count_ops(g, OpKind::kFusedMatMul), 1) << print_graph(g);
  const Node* mm = find_op(g, OpKind::kFusedMatMul);
  const Node* at = find_op(g, OpKind::kAttention);
  ASSERT_TRUE(mm && at);
  const int64_t width = (c.q_heads + 2 * c.kv_heads) * 4;
  EXPECT_EQ(mm->inputs[0], "x");
  const Tensor* w = constant_value(g, mm->inputs[1]);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dims(), (Dims{16, width}));
  EXPECT_EQ(mm->has_input(2), c.bias);
  EXPECT_EQ(at->attrs.get_int("packed_qkv", 0), 1);
  EXPECT_EQ(at->inputs[0], mm->outputs[0]);
  EXPECT_TRUE(at->inputs[1].empty() && at->inputs[2].empty());
  EXPECT_EQ(at->inputs[3], "mask");
  EXPECT_EQ(at->outputs[0], "y");
  const TypeInfo* t = g.type_of(mm->outputs[0]);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape.to_string(), Shape::of({2, 5, width}).to_string());
  // The old weights are gone from the graph.
  EXPECT_EQ(g.initializers.count("wq"), 0u);
  expect_same_outputs(before, g);
}

TEST(FuseQkvProjection, WithBias) { check(Block{}, true); }

TEST(FuseQkvProjection, WithoutBiasPlainMatMuls) {
  Block c;
  c.bias = false;
  check(c, true);
}

TEST(FuseQkvProjection, GroupedQueryHeadsAndCausal) {
  Block c;
  c.q_heads = 4;
  c.kv_heads = 2;
  c.causal = true;
  check(c, true);
}

TEST(FuseQkvProjection, QueryWithAnotherReaderStays) {
  Block c;
  c.q_extra_reader = true;
  check(c, false);
}

TEST(FuseQkvProjection, CrossAttentionStays) {
  Block c;
  c.k_other_a = true;
  check(c, false);
}

// Mixed bias (Q has one, K and V do not): not alike, left alone.
TEST(FuseQkvProjection, MixedBiasStays) {
  Graph g = attention_block(Block{});
  for (Node& n : g.nodes)
    if (n.op == OpKind::kFusedMatMul && n.outputs[0] != "q") n.inputs.resize(2);
  auto pass = make_fuse_qkv_projection_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
}

// At -O2 the pass runs in the pipeline: the fixture's three projections end as one.
TEST(FuseQkvProjection, RunsInThePassList) {
  Graph g = attention_block(Block{});
  Graph before = g;
  PassOptions o;
  o.opt_level = 2;
  o.verify_each_pass = true;
  Status st = optimize_graph(g, o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(count_ops(g, OpKind::kFusedMatMul), 1) << print_graph(g);
  expect_same_outputs(before, g);
}

// FP8 products (fold_qdq_fp8's form: float8 x, float8 [N, K] weights, transB 1, a bias, one alpha) fuse into one FP8
// GEMM with the weights stacked along N; a different alpha (another weight scale) keeps them apart.
Graph fp8_attention_block(float k_alpha) {
  GraphBuilder b(23);
  b.input("x", {2, 5, 16}).input("mask", {2, 1, 1, 5});
  Tensor zp(DType::kFloat8E4M3FN, {});
  zp.data<uint8_t>()[0] = 0;
  b.constant("xs", Tensor::scalar<float>(DType::kFloat32, 0.05f)).constant("xz", zp);
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"x8"});
  unsigned seed = 21;
  for (const char* p : {"q", "k", "v"}) {
    const std::string s = p;
    Tensor w(DType::kFloat8E4M3FN, {8, 16});
    std::mt19937 g(seed++);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<uint8_t>()[i] = float_to_fp8e4m3fn(u(g), true);
    b.constant("w" + s, w).floats("b" + s, {8}, seed++);
    Node& n = b.node(OpKind::kFusedMatMul, {"x8", "w" + s, "b" + s}, {s}, 1);
    n.attrs.set("transB", int64_t{1});
    n.attrs.set("alpha", s == "k" ? k_alpha : 0.01f);
  }
  Node& at = b.node(OpKind::kAttention, {"q", "k", "v", "mask"}, {"y"});
  at.attrs.set("q_num_heads", int64_t{2});
  at.attrs.set("kv_num_heads", int64_t{2});
  b.output("y");
  return b.finish();
}

TEST(FuseQkvProjection, Fp8ProductsWithOneAlpha) {
  auto pass = make_fuse_qkv_projection_pass();
  Graph g = fp8_attention_block(0.01f);
  Graph before = g;
  EXPECT_TRUE(run_pass_checked(*pass, g)) << print_graph(g);
  ASSERT_EQ(count_ops(g, OpKind::kFusedMatMul), 1) << print_graph(g);
  const Node* mm = find_op(g, OpKind::kFusedMatMul);
  EXPECT_EQ(mm->attrs.get_int("transB", 0), 1);
  EXPECT_FLOAT_EQ(mm->attrs.get_float("alpha", 1.f), 0.01f);
  EXPECT_EQ(constant_value(g, mm->inputs[1])->dims(), (Dims{24, 16}));  // [Nq + Nk + Nv, K]
  EXPECT_EQ(constant_value(g, mm->inputs[2])->dims(), (Dims{24}));
  expect_same_outputs(before, g);

  Graph apart = fp8_attention_block(0.02f);
  EXPECT_FALSE(run_pass_checked(*pass, apart));
  EXPECT_EQ(count_ops(apart, OpKind::kFusedMatMul), 3);
}

}  // namespace
}  // namespace kiln_pass_test
