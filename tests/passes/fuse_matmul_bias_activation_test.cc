// Tests of fuse_matmul_bias_activation: MatMul + bias [+ residual] [+ activation], every Gemm C form (constant [N]
// bias scaled by beta, runtime C as Z, constant [M,N] C pre-scaled) become FusedMatMul; a bare MatMul and a shared
// product stay.
#include "core/float_formats.h"
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

TEST(FuseMatMulBiasActivation, MatMulBiasRelu) {
  GraphBuilder b;
  b.input("a", {2, 3, 8}).floats("w", {8, 16}, 1).floats("bias", {16}, 2);
  b.node(OpKind::kMatMul, {"a", "w"}, {"m"});
  b.node(OpKind::kAdd, {"bias", "m"}, {"s"});
  b.node(OpKind::kRelu, {"s"}, {"y"});
  b.output("y");
  auto pass = make_fuse_matmul_bias_activation_pass();
  Graph g = run_and_compare(*pass, b.finish(), true);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].op, OpKind::kFusedMatMul);
  EXPECT_EQ(g.nodes[0].inputs.size(), 3u);
  EXPECT_EQ(g.nodes[0].attrs.get_string("activation"), "Relu");
}

TEST(FuseMatMulBiasActivation, MatMulBiasResidualGeluTanh) {
  GraphBuilder b(20);
  b.input("a", {4, 8}).input("r", {4, 16}).floats("w", {8, 16}, 1).floats("bias", {1, 16}, 2);
  b.node(OpKind::kMatMul, {"a", "w"}, {"m"});
  b.node(OpKind::kAdd, {"m", "bias"}, {"s"});
  b.node(OpKind::kAdd, {"r", "s"}, {"t"});
  b.node(OpKind::kGelu, {"t"}, {"y"}).attrs.set("approximate", std::string("tanh"));
  b.output("y");
  auto pass = make_fuse_matmul_bias_activation_pass();
  Graph g = run_and_compare(*pass, b.finish(), true);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"a", "w", g.nodes[0].inputs[2], "r"}));
  EXPECT_EQ(g.nodes[0].attrs.get_string("activation"), "GeluTanh");
}

// Attention scores Q K^T with K^T a Transpose of the last two axes: the MatMul reads K with transB (and A with
// transA), no copy; the Transpose is left for dead-code elimination.
TEST(FuseMatMulBiasActivation, LastTwoAxesTransposeBecomesTransFlag) {
  GraphBuilder b(30);
  b.input("q", {2, 3, 5, 8}).input("k", {2, 3, 7, 8}).input("p", {2, 3, 5, 4});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s"});
  b.node(OpKind::kTranspose, {"p"}, {"pt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"pt", "s"}, {"y"});
  b.output("y");
  auto pass = make_fuse_matmul_bias_activation_pass();
  Graph g = run_and_compare(*pass, b.finish(), true);
  int fused = 0;
  for (const Node& n : g.nodes) {
    if (n.op != OpKind::kFusedMatMul) continue;
    ++fused;
    if (n.outputs[0] == "s") {
      EXPECT_EQ(n.inputs, (std::vector<std::string>{"q", "k"}));
      EXPECT_EQ(n.attrs.get_int("transB", 0), 1);
      EXPECT_EQ(n.attrs.get_int("transA", 0), 0);
    } else {
      EXPECT_EQ(n.inputs, (std::vector<std::string>{"p", "s"}));
      EXPECT_EQ(n.attrs.get_int("transA", 0), 1);
    }
  }
  EXPECT_EQ(fused, 2) << print_graph(g);
}

// A Transpose that moves a batch axis, or whose result is read elsewhere too, is not folded: the MatMul stays.
TEST(FuseMatMulBiasActivation, OtherTransposesStay) {
  GraphBuilder b(31);
  b.input("q", {3, 2, 5, 8}).input("k", {2, 3, 8, 7});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{1, 0, 2, 3});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s"});
  b.node(OpKind::kTranspose, {"k"}, {"k2"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"k2", "k"}, {"u"});
  b.node(OpKind::kRelu, {"k2"}, {"v"});
  b.output("s").output("u").output("v");
  auto pass = make_fuse_matmul_bias_activation_pass();
  Graph g = run_and_compare(*pass, b.finish(), false);
  for (const Node& n : g.nodes) EXPECT_NE(n.op, OpKind::kFusedMatMul) << print_graph(g);
}

TEST(FuseMatMulBiasActivation, GemmForms) {
  auto pass = make_fuse_matmul_bias_activation_pass();
  // Constant [N] C with beta 0.5, transB, alpha 2, then Sigmoid: one FusedMatMul with a bias.
  {
    GraphBuilder b;
    b.input("a", {4, 8}).floats("w", {16, 8}, 1).floats("c", {16}, 2);
    Node& gm = b.node(OpKind::kGemm, {"a", "w", "c"}, {"m"});
    gm.attrs.set("transB", int64_t{1});
    gm.attrs.set("alpha", 2.f);
    gm.attrs.set("beta", 0.5f);
    b.node(OpKind::kSigmoid, {"m"}, {"y"});
    b.output("y");
    Graph g = run_and_compare(*pass, b.finish(), true);
    ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
    EXPECT_EQ(g.nodes[0].attrs.get_int("transB"), 1);
    EXPECT_FLOAT_EQ(g.nodes[0].attrs.get_float("alpha"), 2.f);
  }
  // Runtime C (beta 1) becomes Z; a bare Gemm still becomes FusedMatMul.
  {
    GraphBuilder b;
    b.input("a", {8, 4}).input("c", {4, 16}).floats("w", {8, 16}, 1);
    b.node(OpKind::kGemm, {"a", "w", "c"}, {"y"}).attrs.set("transA", int64_t{1});
    b.output("y");
    Graph g = run_and_compare(*pass, b.finish(), true);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"a", "w", "", "c"}));
  }
  // Constant [M, N] C with beta 0.25: a pre-scaled Z constant.
  {
    GraphBuilder b;
    b.input("a", {4, 8}).floats("w", {8, 16}, 1).floats("c", {4, 16}, 2);
    b.node(OpKind::kGemm, {"a", "w", "c"}, {"y"}).attrs.set("beta", 0.25f);
    b.output("y");
    Graph g = run_and_compare(*pass, b.finish(), true);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs.size(), 4u);
  }
  // Runtime C with beta != 1 cannot be expressed: the Gemm stays.
  {
    GraphBuilder b;
    b.input("a", {4, 8}).input("c", {4, 16}).floats("w", {8, 16}, 1);
    b.node(OpKind::kGemm, {"a", "w", "c"}, {"y"}).attrs.set("beta", 3.f);
    b.output("y");
    run_and_compare(*pass, b.finish(), false);
  }
}

TEST(FuseMatMulBiasActivation, Float16BiasMovesBytewise) {
  auto half = [](const Tensor& t) {
    Tensor h(DType::kFloat16, t.dims());
    for (int64_t i = 0; i < t.numel(); ++i) h.data<uint16_t>()[i] = float_to_half(t.data<float>()[i]);
    return h;
  };
  GraphBuilder b;
  b.input("a", {3, 8}, DType::kFloat16);
  b.constant("w", half(GraphBuilder::random_tensor({8, 4}, 1)))
      .constant("bias", half(GraphBuilder::random_tensor({1, 4}, 2)));
  b.node(OpKind::kMatMul, {"a", "w"}, {"m"});
  b.node(OpKind::kAdd, {"m", "bias"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph after = g;
  auto pass = make_fuse_matmul_bias_activation_pass();
  EXPECT_TRUE(run_pass_checked(*pass, after));
  ASSERT_EQ(after.nodes.size(), 1u) << print_graph(after);
  EXPECT_EQ(after.nodes[0].op, OpKind::kFusedMatMul);
  const Tensor* bias = constant_value(after, after.nodes[0].inputs[2]);
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->dims(), (Dims{4}));
  EXPECT_EQ(bias->dtype(), DType::kFloat16);
  // Outputs: the fused op rounds once, the unfused graph twice; compare on float16 inputs.
  std::vector<Tensor> in{half(GraphBuilder::random_tensor({3, 8}, 5))};
  auto x = run_graph(g, in);
  auto y = run_graph(after, in);
  ASSERT_TRUE(x.ok() && y.ok());
  for (int64_t i = 0; i < 12; ++i) EXPECT_NEAR((*x)[0].tensor.as_double(i), (*y)[0].tensor.as_double(i), 1e-2);
}

TEST(FuseMatMulBiasActivation, BareOrSharedMatMulStays) {
  auto pass = make_fuse_matmul_bias_activation_pass();
  GraphBuilder b;
  b.input("a", {4, 8}).floats("w", {8, 16}, 1).floats("bias", {16}, 2);
  b.node(OpKind::kMatMul, {"a", "w"}, {"m"});
  b.node(OpKind::kAdd, {"m", "bias"}, {"y"});
  b.output("y").output("m");
  run_and_compare(*pass, b.finish(), false);
  GraphBuilder c;
  c.input("a", {4, 8}).floats("w", {8, 16}, 1);
  c.node(OpKind::kMatMul, {"a", "w"}, {"y"});
  c.output("y");
  run_and_compare(*pass, c.finish(), false);
}

}  // namespace
