// Tests of drop_dead_conv_taps: taps of a dilated Conv / QLinearConv that read only padding are dropped (the kernel,
// weights and pads shrink) with bit-identical outputs; live taps, dynamic spatial sizes, strides that would change
// the output size, and taps that every stride still reaches stay as written.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// x float [1, 4, h, w] -> Conv(3x3 by default, 6 outputs, dilation d, pads p) -> y.
GraphBuilder dilated_conv(int64_t h, int64_t w, int64_t d, Dims pads, Dims strides = {1, 1}, Dims kernel = {3, 3}) {
  GraphBuilder b(17);
  b.input("x", {1, 4, h, w});
  b.floats("w", {6, 4, kernel[0], kernel[1]}, 3).floats("b", {6}, 4);
  Node& c = b.node(OpKind::kConv, {"x", "w", "b"}, {"y"});
  c.attrs.set("dilations", Dims{d, d});
  c.attrs.set("pads", pads);
  c.attrs.set("strides", strides);
  b.output("y");
  return b;
}

Dims kernel_of(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kConv || n.op == OpKind::kQLinearConv)
      return constant_value(g, n.inputs[n.op == OpKind::kConv ? 1 : 3])->dims();
  return {};
}

TEST(DropDeadConvTaps, AtrousKernelOnASmallMapBecomesItsCentre) {
  auto pass = make_drop_dead_conv_taps_pass();
  // ASPP: dilation 24 and 36 with "same" pads on a 20x20 map: only the centre tap reads the input.
  for (int64_t d : {24, 36}) {
    Graph g = run_and_compare(*pass, dilated_conv(20, 20, d, {d, d, d, d}).finish(), true, 0.0);
    EXPECT_EQ(kernel_of(g), (Dims{6, 4, 1, 1})) << print_graph(g);
    EXPECT_EQ(g.nodes[0].attrs.get_ints("pads"), (Dims{0, 0, 0, 0}));
  }
  // One axis only: 20 rows but 60 columns at dilation 24 keep the horizontal taps.
  Graph g = run_and_compare(*pass, dilated_conv(20, 60, 24, {24, 24, 24, 24}).finish(), true, 0.0);
  EXPECT_EQ(kernel_of(g), (Dims{6, 4, 1, 3})) << print_graph(g);
  EXPECT_EQ(g.nodes[0].attrs.get_ints("pads"), (Dims{0, 24, 0, 24}));
  // Asymmetric pads: the first row of taps reads only padding, the last two rows read the input.
  g = run_and_compare(*pass, dilated_conv(6, 6, 4, {8, 4, 0, 4}).finish(), true, 0.0);
  EXPECT_EQ(kernel_of(g), (Dims{6, 4, 2, 3})) << print_graph(g);
  EXPECT_EQ(g.nodes[0].attrs.get_ints("pads"), (Dims{4, 4, 0, 4}));
  // Stride 2: the outer taps of a dilation-12 kernel on 10x10 never reach the input.
  g = run_and_compare(*pass, dilated_conv(10, 10, 12, {12, 12, 12, 12}, {2, 2}).finish(), true, 0.0);
  EXPECT_EQ(kernel_of(g), (Dims{6, 4, 1, 1})) << print_graph(g);
}

TEST(DropDeadConvTaps, LiveTapsDynamicSizesAndStridesStay) {
  auto pass = make_drop_dead_conv_taps_pass();
  // Dilation 12 on 20x20: every tap reads the input for some output.
  run_and_compare(*pass, dilated_conv(20, 20, 12, {12, 12, 12, 12}).finish(), false, 0.0);
  // A plain 3x3 "same" convolution.
  run_and_compare(*pass, dilated_conv(8, 8, 1, {1, 1, 1, 1}).finish(), false, 0.0);
  // Stride 2 with wide pads: every tap still reads the input for some output.
  run_and_compare(*pass, dilated_conv(5, 5, 1, {3, 3, 3, 3}, {2, 2}).finish(), false, 0.0);
  // Dynamic spatial sizes: nothing is known about which taps are dead.
  std::vector<Dim> dd{Dim::known(1), Dim::known(4), Dim::named("h"), Dim::named("w")};
  Graph g0 = dilated_conv(20, 20, 24, {24, 24, 24, 24}).finish();
  g0.inputs[0].type = TypeInfo::tensor(DType::kFloat32, Shape::of_dims(dd));
  g0.value_types["x"] = g0.inputs[0].type;
  Graph after = g0;
  EXPECT_FALSE(run_pass_checked(*pass, after));
}

TEST(DropDeadConvTaps, QLinearConvWithZeroPointPadding) {
  auto pass = make_drop_dead_conv_taps_pass();
  GraphBuilder b(19);
  b.input("x", {1, 4, 10, 10});
  b.constant("xs", scalar_f32(0.03f)).constant("xz", scalar_q8(DType::kUInt8, 117));
  b.constant("ys", scalar_f32(0.05f)).constant("yz", scalar_q8(DType::kUInt8, 128));
  b.constant("ws", scalar_f32(0.004f)).constant("wz", scalar_q8(DType::kInt8, 0));
  Tensor w(DType::kInt8, {5, 4, 3, 3});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>((i * 37) % 121 - 60);
  b.constant("w", w);
  b.node(OpKind::kQuantizeLinear, {"x", "xs", "xz"}, {"xq"});
  Node& c = b.node(OpKind::kQLinearConv, {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"yq"});
  c.attrs.set("dilations", Dims{12, 12});
  c.attrs.set("pads", Dims{12, 12, 12, 12});
  b.node(OpKind::kDequantizeLinear, {"yq", "ys", "yz"}, {"y"});
  b.output("y");
  Graph g = run_and_compare(*pass, b.finish(), true, 0.0);
  EXPECT_EQ(kernel_of(g), (Dims{5, 4, 1, 1})) << print_graph(g);
}

}  // namespace
