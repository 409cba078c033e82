// Tests of fold_qdq: DequantizeLinear -> Conv/MatMul/Gemm [-> Relu] -> QuantizeLinear becomes QLinearConv /
// QLinearMatMul (saturate=1) with the reference's outputs unchanged up to one quantization step; patterns that would
// change the answer (a Relu whose QuantizeLinear zero point is not the type's minimum, a weight zero point) stay.
// DequantizeLinear pairs -> Add/Mul -> QuantizeLinear become QLinearAdd/QLinearMul with bit-identical outputs,
// DequantizeLinear -> GlobalAveragePool -> QuantizeLinear a QLinearGlobalAveragePool within one step.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

Tensor q8(DType t, const std::vector<int64_t>& dims, int lo, int hi, unsigned seed) {
  Tensor r(t, dims);
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (t == DType::kInt8) r.data<int8_t>()[i] = static_cast<int8_t>(u(g));
    else r.data<uint8_t>()[i] = static_cast<uint8_t>(u(g));
  }
  return r;
}
Tensor scales(int64_t n, float lo, float hi) {
  Tensor t(DType::kFloat32, {n});
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(n);
  return t;
}

// x (float) -> Q -> DQ -> op(DQ(weights)) [-> Relu] -> Q(y_zp) -> DQ -> out.
Graph qdq_graph(OpKind op, bool relu, int y_zp, bool trans_b = false, bool weight_zp_nonzero = false) {
  GraphBuilder b(13);
  if (op == OpKind::kConv) b.input("x", {1, 4, 6, 6});
  else b.input("x", op == OpKind::kGemm ? std::vector<int64_t>{3, 8} : std::vector<int64_t>{2, 3, 8});
  b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
  b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, y_zp));
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
  if (op == OpKind::kConv) {
    b.constant("wq", q8(DType::kInt8, {6, 4, 3, 3}, -60, 60, 3)).constant("ws", scales(6, 0.01f, 0.02f));
    Tensor wz(DType::kInt8, {6});
    for (int i = 0; i < 6; ++i) wz.data<int8_t>()[i] = weight_zp_nonzero && i == 2 ? 1 : 0;
    b.constant("wz", wz).floats("bias", {6}, 5);
    b.node(OpKind::kDequantizeLinear, {"wq", "ws", "wz"}, {"wd"}).attrs.set("axis", int64_t{0});
    b.node(OpKind::kConv, {"xd", "wd", "bias"}, {"y"}).attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  } else {
    const std::vector<int64_t> wd = trans_b ? std::vector<int64_t>{5, 8} : std::vector<int64_t>{8, 5};
    b.constant("wq", q8(DType::kInt8, wd, -60, 60, 4)).constant("ws", scales(5, 0.01f, 0.03f));
    b.node(OpKind::kDequantizeLinear, {"wq", "ws"}, {"wd"}).attrs.set("axis", int64_t{trans_b ? 0 : 1});
    Node& m = b.node(op, {"xd", "wd"}, {"y"});
    if (trans_b) m.attrs.set("transB", int64_t{1});
  }
  std::string y = "y";
  if (relu) {
    b.node(OpKind::kRelu, {"y"}, {"r"});
    y = "r";
  }
  b.node(OpKind::kQuantizeLinear, {y, "ys", "yz"}, {"yq"});
  b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"out"});
  b.output("out");
  return b.finish();
}

TEST(FoldQdq, ConvWithBiasAndRelu) {
  auto pass = make_fold_qdq_pass();
  Graph g = run_and_compare(*pass, qdq_graph(OpKind::kConv, true, 0), true, 0.051);
  EXPECT_EQ(count_ops(g, OpKind::kQLinearConv), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kConv), 0);
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 0);
}

TEST(FoldQdq, MatMulAndGemm) {
  auto pass = make_fold_qdq_pass();
  for (OpKind op : {OpKind::kMatMul, OpKind::kGemm}) {
    for (bool trans : {false, true}) {
      if (op == OpKind::kMatMul && trans) continue;
      Graph g = run_and_compare(*pass, qdq_graph(op, false, 100, trans), true, 0.051);
      ASSERT_EQ(count_ops(g, OpKind::kQLinearMatMul), 1) << print_graph(g);
      for (const Node& n : g.nodes)
        if (n.op == OpKind::kQLinearMatMul) EXPECT_EQ(n.attrs.get_int("saturate"), 1);
    }
  }
}

// x, r (float) -> Q -> DQ each; Add(x, r) and Mul(x, per-channel s) -> Q -> DQ -> outputs.
TEST(FoldQdq, AddAndMulOfTwoQuantizedValues) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    GraphBuilder b(13);
    b.input("x", {2, 4, 5, 5}).input("r", {2, 4, 5, 5}).input("s", {1, 4, 1, 1});
    b.constant("xs", scalar_f32(0.021f)).constant("xz", scalar_q8(t, t == DType::kInt8 ? -3 : 128));
    b.constant("rs", scalar_f32(0.013f)).constant("rz", scalar_q8(t, t == DType::kInt8 ? 5 : 120));
    b.constant("ss", scalar_f32(1.f / 255)).constant("sz", scalar_q8(t, t == DType::kInt8 ? -128 : 0));
    b.constant("ys", scalar_f32(0.037f)).constant("yz", scalar_q8(t, t == DType::kInt8 ? 1 : 131));
    for (const char* v : {"x", "r", "s"}) {
      const std::string n(v);
      b.node(OpKind::kQuantizeLinear, {n, n + "s", n + "z"}, {n + "q"});
      b.node(OpKind::kDequantizeLinear, {n + "q", n + "s", n + "z"}, {n + "d"});
    }
    b.node(OpKind::kAdd, {"xd", "rd"}, {"sum"});
    b.node(OpKind::kMul, {"sd", "xd"}, {"prod"});  // the broadcast operand first
    for (const char* v : {"sum", "prod"}) {
      const std::string n(v);
      b.node(OpKind::kQuantizeLinear, {n, "ys", "yz"}, {n + "_q"});
      b.node(OpKind::kDequantizeLinear, {n + "_q", "ys", "yz"}, {n + "_out"});
      b.output(n + "_out");
    }
    auto pass = make_fold_qdq_binary_pass();
    Graph g = run_and_compare(*pass, b.finish(), true, 0.0);
    EXPECT_EQ(count_ops(g, OpKind::kQLinearAdd), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, OpKind::kQLinearMul), 1);
    EXPECT_EQ(count_ops(g, OpKind::kAdd) + count_ops(g, OpKind::kMul), 0);
  }
}

// A residual block's end: Add -> Relu -> Q folds into QLinearAdd when y's zero point is the type's minimum (the
// saturation is the Relu), bit-identically; with any other zero point the Relu, Add and Q stay.
TEST(FoldQdq, AddThenReluOnlyWhenSaturationIsTheRelu) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (bool exact : {true, false}) {
      GraphBuilder b(13);
      b.input("x", {2, 4, 5, 5}).input("r", {2, 4, 5, 5});
      b.constant("xs", scalar_f32(0.021f)).constant("xz", scalar_q8(t, t == DType::kInt8 ? -3 : 128));
      b.constant("rs", scalar_f32(0.013f)).constant("rz", scalar_q8(t, t == DType::kInt8 ? 5 : 120));
      const int lo = t == DType::kInt8 ? -128 : 0;
      b.constant("ys", scalar_f32(0.019f)).constant("yz", scalar_q8(t, exact ? lo : lo + 7));
      for (const char* v : {"x", "r"}) {
        const std::string n(v);
        b.node(OpKind::kQuantizeLinear, {n, n + "s", n + "z"}, {n + "q"});
        b.node(OpKind::kDequantizeLinear, {n + "q", n + "s", n + "z"}, {n + "d"});
      }
      b.node(OpKind::kAdd, {"xd", "rd"}, {"sum"});
      b.node(OpKind::kRelu, {"sum"}, {"act"});
      b.node(OpKind::kQuantizeLinear, {"act", "ys", "yz"}, {"yq"});
      b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"out"});
      b.output("out");
      auto pass = make_fold_qdq_binary_pass();
      Graph g = run_and_compare(*pass, b.finish(), exact, 0.0);
      EXPECT_EQ(count_ops(g, OpKind::kQLinearAdd), exact ? 1 : 0) << print_graph(g);
      EXPECT_EQ(count_ops(g, OpKind::kRelu), exact ? 0 : 1);
    }
  }
}

// Gemm with a bias C (float, or DequantizeLinear of int32 as quantize_static writes it) -> QLinearMatMul with
// Kiln's int32 bias input 8.
TEST(FoldQdq, GemmWithBias) {
  for (bool int32_bias : {false, true}) {
    GraphBuilder b(13);
    b.input("x", {3, 8});
    b.constant("xs", scalar_f32(0.02f)).constant("xz", scalar_q8(DType::kUInt8, 128));
    b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 100));
    b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
    b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
    b.constant("wq", q8(DType::kInt8, {8, 5}, -60, 60, 4)).constant("ws", scales(5, 0.01f, 0.03f));
    b.node(OpKind::kDequantizeLinear, {"wq", "ws"}, {"wd"}).attrs.set("axis", int64_t{1});
    if (int32_bias) {
      Tensor b32(DType::kInt32, {5});
      for (int c = 0; c < 5; ++c) b32.data<int32_t>()[c] = 400 * c - 900;
      Tensor bsc(DType::kFloat32, {5});
      for (int c = 0; c < 5; ++c) bsc.data<float>()[c] = 0.02f * (0.01f + 0.004f * static_cast<float>(c));
      b.constant("bq", b32).constant("bsc", bsc);
      b.node(OpKind::kDequantizeLinear, {"bq", "bsc"}, {"bias"}).attrs.set("axis", int64_t{0});
    } else {
      b.floats("bias", {5}, 9);
    }
    b.node(OpKind::kGemm, {"xd", "wd", "bias"}, {"y"});
    b.node(OpKind::kQuantizeLinear, {"y", "ys", "yz"}, {"yq"});
    b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"out"});
    b.output("out");
    auto pass = make_fold_qdq_pass();
    Graph g = run_and_compare(*pass, b.finish(), true, 0.051);
    ASSERT_EQ(count_ops(g, OpKind::kQLinearMatMul), 1) << print_graph(g);
    for (const Node& n : g.nodes)
      if (n.op == OpKind::kQLinearMatMul) EXPECT_EQ(n.inputs.size(), 9u) << print_graph(g);
  }
}

// DequantizeLinear -> GlobalAveragePool -> QuantizeLinear -> QLinearGlobalAveragePool (within one step).
TEST(FoldQdq, GlobalAveragePool) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    GraphBuilder b(13);
    b.input("x", {2, 6, 5, 7});
    b.constant("xs", scalar_f32(0.021f)).constant("xz", scalar_q8(t, t == DType::kInt8 ? -3 : 128));
    b.constant("ys", scalar_f32(0.004f)).constant("yz", scalar_q8(t, t == DType::kInt8 ? 2 : 130));
    b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
    b.node(OpKind::kDequantizeLinear, {"xq", "xs", "xz"}, {"xd"});
    b.node(OpKind::kGlobalAveragePool, {"xd"}, {"p"});
    b.node(OpKind::kQuantizeLinear, {"p", "ys", "yz"}, {"pq"});
    b.node(OpKind::kDequantizeLinear, {"pq", "ys", "yz"}, {"out"});
    b.output("out");
    auto pass = make_fold_qdq_pass();
    Graph g = run_and_compare(*pass, b.finish(), true, 0.0041);
    EXPECT_EQ(count_ops(g, OpKind::kQLinearGlobalAveragePool), 1) << print_graph(g);
    EXPECT_EQ(count_ops(g, OpKind::kGlobalAveragePool), 0);
  }
}

TEST(FoldQdq, InexactPatternsStay) {
  auto pass = make_fold_qdq_pass();
  // Relu then a QuantizeLinear whose zero point is not 0: the Relu is not implied by saturation.
  Graph g = run_and_compare(*pass, qdq_graph(OpKind::kConv, true, 10), false);
  EXPECT_EQ(count_ops(g, OpKind::kConv), 1);
  // A non-zero weight zero point.
  g = run_and_compare(*pass, qdq_graph(OpKind::kConv, false, 10, false, true), false);
  EXPECT_EQ(count_ops(g, OpKind::kQLinearConv), 0);
}

}  // namespace
