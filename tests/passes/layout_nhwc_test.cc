// layout_nhwc: a ResNet-like block (plain ops, and FusedConv ops) runs channels-last between one entry transpose
// and the classifier head; outputs equal the NCHW graph's. An 8-bit block (QLinearConv, LookupTable, QLinearAdd,
// MaxPool, per-tensor Q/DQ) does too, bit for bit.
#include "fuse_test_util.h"

namespace kiln_pass_test {
namespace {

void set_conv_attrs(Node& n) {
  n.attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
  n.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
}

// x[1,3,8,8] -Conv-Relu-MaxPool-> p -Conv-> c2 -Add(p)-Relu-GlobalAveragePool-Flatten-Gemm-> y[1,10]
Graph resnet_block(bool fused) {
  GraphBuilder b;
  b.input("x", {1, 3, 8, 8}).floats("w1", {8, 3, 3, 3}, 11).floats("b1", {8}, 12).floats("w2", {8, 8, 3, 3}, 13);
  b.floats("fc", {10, 8}, 14).floats("fcb", {10}, 15);
  if (fused) {
    Node& c1 = b.node(OpKind::kFusedConv, {"x", "w1", "b1"}, {"r1"}, 1);
    set_conv_attrs(c1);
    c1.attrs.set("activation", std::string("Relu"));
  } else {
    set_conv_attrs(b.node(OpKind::kConv, {"x", "w1", "b1"}, {"c1"}));
    b.node(OpKind::kRelu, {"c1"}, {"r1"});
  }
  Node& mp = b.node(OpKind::kMaxPool, {"r1"}, {"p"});
  mp.attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  mp.attrs.set("strides", std::vector<int64_t>{2, 2});
  if (fused) {
    Node& c2 = b.node(OpKind::kFusedConv, {"p", "w2", "", "p"}, {"r2"}, 1);  // Z = residual
    set_conv_attrs(c2);
    c2.attrs.set("activation", std::string("Relu"));
  } else {
    set_conv_attrs(b.node(OpKind::kConv, {"p", "w2"}, {"c2"}));
    b.node(OpKind::kAdd, {"c2", "p"}, {"a"});
    b.node(OpKind::kRelu, {"a"}, {"r2"});
  }
  b.node(OpKind::kGlobalAveragePool, {"r2"}, {"gap"});
  b.node(OpKind::kFlatten, {"gap"}, {"f"});
  b.node(OpKind::kGemm, {"f", "fc", "fcb"}, {"y"}).attrs.set("transB", int64_t{1});
  b.output("y");
  return b.finish();
}

void check_block(bool fused) {
  Graph g = resnet_block(fused);
  Graph before = g;
  auto pass = make_layout_nhwc_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kConv), 0);
  EXPECT_EQ(count_ops(g, OpKind::kFusedConv), 2);
  for (const Node& n : g.nodes) {
    if (n.op == OpKind::kFusedConv || n.op == OpKind::kMaxPool || n.op == OpKind::kGlobalAveragePool)
      EXPECT_EQ(n.attrs.get_string("layout"), "NHWC") << n.describe();
  }
  // One transpose in; the way out ([1,1,1,8] -> [1,8]) only moves unit dims, so it is a Reshape.
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kFlatten) + count_ops(g, OpKind::kReshape), 1) << print_graph(g);
  // Weights were permuted at build time to [M, kH, kW, C/g].
  // The stem's 3 input channels are zero-padded to 8 (a Pad after the entry transpose, zero weight channels).
  EXPECT_EQ(count_ops(g, OpKind::kPad), 1) << print_graph(g);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kFusedConv) EXPECT_EQ(g.initializers.at(n.inputs[1]).dim(3), 8);
  EXPECT_EQ(g.type_of("y")->to_string(), "float32[1,10]");
  expect_same_outputs(before, g, 1e-4);
}

Tensor random_q8(DType t, const std::vector<int64_t>& dims, unsigned seed) {
  Tensor r(t, dims);
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> u(-90, 90);
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (t == DType::kInt8)
      r.data<int8_t>()[i] = static_cast<int8_t>(u(g));
    else
      r.data<uint8_t>()[i] = static_cast<uint8_t>(u(g) + 128);
  }
  return r;
}

// x[2,8,6,6] -Q-> xq -QLinearConv 3x3-> c1 -LookupTable-> t -QLinearConv 1x1 (group 2)-> c2 -QLinearAdd(t)-> a
//   -MaxPool-> p -DequantizeLinear-> y: the region starts at the first QLinearConv (an 8-bit entry transpose) and
//   leaves after the DequantizeLinear.
TEST(LayoutNhwc, EightBitBlockIsBitExact) {
  GraphBuilder b(13);
  b.input("x", {2, 8, 6, 6});
  b.constant("s", scalar_f32(0.03f)).constant("z", scalar_q8(DType::kUInt8, 120));
  b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 10));
  b.constant("w1", random_q8(DType::kInt8, {8, 8, 3, 3}, 5)).constant("w2", random_q8(DType::kInt8, {8, 4, 1, 1}, 6));
  Tensor ws(DType::kFloat32, {8}), wz(DType::kInt8, {8}), bias(DType::kInt32, {8}), table(DType::kUInt8, {256});
  for (int i = 0; i < 8; ++i) ws.data<float>()[i] = 0.002f + 0.0003f * i, wz.data<int8_t>()[i] = 0;
  for (int i = 0; i < 8; ++i) bias.data<int32_t>()[i] = 300 * i - 1000;
  for (int i = 0; i < 256; ++i) table.data<uint8_t>()[i] = static_cast<uint8_t>((i * 7 + 3) % 256);
  b.constant("ws", ws).constant("wz", wz).constant("bias", bias).constant("table", table);
  b.node(OpKind::kQuantizeLinear, {"x", "s", "z"}, {"xq"});
  Node& c1 = b.node(OpKind::kQLinearConv, {"xq", "s", "z", "w1", "ws", "wz", "ys", "yz", "bias"}, {"c1"}, 10);
  c1.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node(OpKind::kLookupTable, {"c1", "table"}, {"t"}, 1);
  b.node(OpKind::kQLinearConv, {"t", "ys", "yz", "w2", "ws", "wz", "s", "z"}, {"c2"}, 10)
      .attrs.set("group", int64_t{2});
  b.node(OpKind::kQLinearAdd, {"c2", "s", "z", "t", "ys", "yz", "ys", "yz"}, {"a"}, 1);
  Node& mp = b.node(OpKind::kMaxPool, {"a"}, {"p"});
  mp.attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  mp.attrs.set("strides", std::vector<int64_t>{2, 2});
  b.node(OpKind::kDequantizeLinear, {"p", "ys", "yz"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_layout_nhwc_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  int nhwc = 0;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kQLinearConv || n.op == OpKind::kMaxPool) nhwc += n.attrs.get_string("layout") == "NHWC";
  EXPECT_EQ(nhwc, 3) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 2) << print_graph(g);  // uint8 in, float out
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kTranspose) {
      const DType t = g.type_of(n.inputs[0])->dtype;
      EXPECT_TRUE(t == DType::kUInt8 || n.outputs[0] == "y") << print_graph(g);
    }
  EXPECT_EQ(g.type_of("y")->to_string(), "float32[2,8,3,3]");
  expect_same_outputs(before, g, 0.0);
}

TEST(LayoutNhwc, ResNetBlockFromPlainOps) { check_block(false); }
TEST(LayoutNhwc, ResNetBlockFromFusedConv) { check_block(true); }

TEST(LayoutNhwc, RegionValueAsGraphOutputAndConcat) {
  GraphBuilder b;
  b.input("x", {2, 4, 5, 5}).floats("w", {6, 4, 1, 1}, 3).floats("scale", {6, 1, 1}, 4);
  b.node(OpKind::kConv, {"x", "w"}, {"c"});
  b.node(OpKind::kMul, {"c", "scale"}, {"m"});  // constant operand permuted with the region
  b.node(OpKind::kConcat, {"c", "m"}, {"cat"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kSigmoid, {"cat"}, {"y"});
  b.node(OpKind::kReduceMean, {"c"}, {"other"});  // not layout-aware: reads c through an exit transpose
  b.output("y").output("other").output("c");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_layout_nhwc_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kFusedConv), 1);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kConcat) EXPECT_EQ(n.attrs.get_int("axis"), 3);
  EXPECT_EQ(g.outputs[0].name, "y");
  EXPECT_EQ(g.outputs[2].name, "c");
  EXPECT_EQ(g.type_of("c")->to_string(), "float32[2,6,5,5]");
  EXPECT_EQ(g.type_of("y")->to_string(), "float32[2,12,5,5]");
  // x in; c (shared by the ReduceMean and the graph output) and y out.
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 3) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kPad), 1) << print_graph(g);  // 4 input channels padded to 8
  expect_same_outputs(before, g, 1e-5);
}

// A C2f/CSP-style neck (a detector's): channel Split and channel Slices (constant axes, and none: the first
// len(starts) axes), a residual Add, Concat of the pieces, a nearest 2x Resize (scales) and a linear one (sizes, with
// its own `axes`) all stay channels-last between the entry transpose and the one exit.
TEST(LayoutNhwc, SplitSliceResizeJoinTheRegion) {
  for (bool with_split : {true, false}) {
    SCOPED_TRACE(with_split ? "Split" : "Slice");
    GraphBuilder b(19);
    b.input("x", {2, 4, 6, 6}).floats("w1", {8, 4, 1, 1}, 3).floats("w2", {4, 4, 3, 3}, 4).floats("w3", {8, 12, 1, 1}, 5);
    b.ints("split", {4, 4}).ints("s0", {0}).ints("e0", {4}).ints("ax1", {1}).ints("s1", {0, 4}).ints("e1", {2, 8});
    b.constant("up", Tensor::from_vector<float>(DType::kFloat32, {4}, {1, 1, 2, 2})).ints("hw", {9, 5});
    b.node(OpKind::kConv, {"x", "w1"}, {"c1"});
    if (with_split) {
      b.node(OpKind::kSplit, {"c1", "split"}, {"h0", "h1"}).attrs.set("axis", int64_t{1});
    } else {
      b.node(OpKind::kSlice, {"c1", "s0", "e0", "ax1"}, {"h0"});
      b.node(OpKind::kSlice, {"c1", "s1", "e1"}, {"h1"});  // no axes: axes 0 and 1
    }
    Node& c2 = b.node(OpKind::kConv, {"h1", "w2"}, {"c2"});
    c2.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
    b.node(OpKind::kAdd, {"h1", "c2"}, {"a"});
    b.node(OpKind::kConcat, {"h0", "h1", "a"}, {"cat"}).attrs.set("axis", int64_t{1});
    b.node(OpKind::kConv, {"cat", "w3"}, {"c3"});
    Node& r1 = b.node(OpKind::kResize, {"c3", "", "up"}, {"r1"});
    r1.attrs.set("mode", std::string("nearest"));
    r1.attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
    r1.attrs.set("nearest_mode", std::string("floor"));
    Node& r2 = b.node(OpKind::kResize, {"r1", "", "", "hw"}, {"r2"});
    r2.attrs.set("mode", std::string("linear"));
    r2.attrs.set("axes", std::vector<int64_t>{-2, 3});
    b.node(OpKind::kRelu, {"r2"}, {"y"});
    b.output("y");
    Graph g = b.finish();
    Graph before = g;
    auto pass = make_layout_nhwc_pass();
    EXPECT_TRUE(run_pass_checked(*pass, g));
    EXPECT_EQ(count_ops(g, OpKind::kTranspose), 2) << print_graph(g);  // x in, y out
    for (const Node& n : g.nodes) {
      if (n.op == OpKind::kSplit || n.op == OpKind::kConcat) EXPECT_EQ(n.attrs.get_int("axis"), 3);
      if (n.op == OpKind::kResize) {
        EXPECT_EQ(n.attrs.get_ints("axes"), (n.outputs[0].rfind("r1", 0) == 0 ? std::vector<int64_t>{0, 3, 1, 2}
                                                                               : std::vector<int64_t>{1, 2}))
            << n.describe();
      }
    }
    EXPECT_EQ(g.type_of("y")->to_string(), "float32[2,8,9,5]");
    expect_same_outputs(before, g, 1e-5);
  }
}

TEST(LayoutNhwc, GroupedOrAlignedStemKeepsItsChannels) {
  for (int64_t channels : {int64_t{8}, int64_t{16}}) {
    GraphBuilder b;
    b.input("x", {1, channels, 6, 6}).floats("w", {4, channels, 3, 3}, 5);
    b.node(OpKind::kConv, {"x", "w"}, {"y"});
    b.output("y");
    Graph g = b.finish();
    auto pass = make_layout_nhwc_pass();
    EXPECT_TRUE(run_pass_checked(*pass, g));
    EXPECT_EQ(count_ops(g, OpKind::kPad), 0) << channels;
  }
  GraphBuilder b;
  b.input("x", {1, 6, 6, 6}).floats("w", {6, 2, 3, 3}, 6);
  b.node(OpKind::kConv, {"x", "w"}, {"y"}).attrs.set("group", int64_t{3});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_layout_nhwc_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kPad), 0);
  expect_same_outputs(before, g, 1e-5);
}

TEST(LayoutNhwc, NothingToConvert) {
  GraphBuilder b;
  b.input("x", {1, 2, 4, 4});
  Node& mp = b.node(OpKind::kMaxPool, {"x"}, {"p"});  // a lone pool does not start a region
  mp.attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  b.node(OpKind::kRelu, {"p"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  auto pass = make_layout_nhwc_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0);
}

TEST(LayoutNhwc, PoolKernelsAndInferenceHonourLayout) {
  // The reference pools with layout=NHWC equal Transpose -> NCHW pool -> Transpose.
  for (OpKind op : {OpKind::kMaxPool, OpKind::kAveragePool, OpKind::kGlobalMaxPool, OpKind::kGlobalAveragePool}) {
    GraphBuilder nchw, nhwc;
    nchw.input("x", {2, 5, 6, 3});
    nhwc.input("x", {2, 5, 6, 3});
    nchw.node(OpKind::kTranspose, {"x"}, {"t"}).attrs.set("perm", std::vector<int64_t>{0, 3, 1, 2});
    Node& a = nchw.node(op, {"t"}, {"p"});
    Node& c = nhwc.node(op, {"x"}, {"y"});
    if (op == OpKind::kMaxPool || op == OpKind::kAveragePool) {
      for (Node* n : {&a, &c}) {
        n->attrs.set("kernel_shape", std::vector<int64_t>{3, 2});
        n->attrs.set("strides", std::vector<int64_t>{2, 1});
        n->attrs.set("pads", std::vector<int64_t>{1, 0, 1, 1});
      }
    }
    c.attrs.set("layout", std::string("NHWC"));
    nchw.node(OpKind::kTranspose, {"p"}, {"y"}).attrs.set("perm", std::vector<int64_t>{0, 2, 3, 1});
    nchw.output("y");
    nhwc.output("y");
    Graph g1 = nchw.finish(), g2 = nhwc.finish();
    EXPECT_EQ(g1.type_of("y")->to_string(), g2.type_of("y")->to_string()) << op_name(op);
    expect_same_outputs(g1, g2, 1e-6);
  }
}

}  // namespace
}  // namespace kiln_pass_test
