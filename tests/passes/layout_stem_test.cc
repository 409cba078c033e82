// layout_nhwc's space-to-depth stem: a stride-2 conv on a few-channel image becomes Pad -> Reshape -> Transpose ->
// Reshape -> stride-1 NHWC FusedConv with rearranged weights; outputs equal the original graph's on the reference.
#include "passes/layout_stem.h"

#include "pass_test_util.h"
#include "quant/precision.h"

namespace kiln_pass_test {
namespace {

struct StemCase {
  std::vector<int64_t> x;  // NCHW input dims (0 as the batch: a dynamic "batch" dim)
  int64_t m, kh, kw;
  std::vector<int64_t> pads;
  bool bias, relu, fused;
};

Graph stem_graph(const StemCase& c) {
  GraphBuilder b;
  if (c.x[0] == 0)
    b.batched_input("x", {c.x[1], c.x[2], c.x[3]});
  else
    b.input("x", c.x);
  b.floats("w", {c.m, c.x[1], c.kh, c.kw}, 21).floats("b", {c.m}, 22);
  std::vector<std::string> ins{"x", "w"};
  if (c.bias) ins.push_back("b");
  Node& n = c.fused ? b.node(OpKind::kFusedConv, ins, {c.relu ? "y" : "c"}, 1) : b.node(OpKind::kConv, ins, {"c"});
  n.attrs.set("kernel_shape", std::vector<int64_t>{c.kh, c.kw});
  n.attrs.set("strides", std::vector<int64_t>{2, 2});
  n.attrs.set("pads", c.pads);
  if (c.fused && c.relu) n.attrs.set("activation", std::string("Relu"));
  if (!c.fused && c.relu) b.node(OpKind::kRelu, {"c"}, {"y"});
  b.output(c.relu ? "y" : "c");
  return b.finish();
}

void check_stem(const StemCase& c) {
  SCOPED_TRACE(::testing::Message() << "x " << Shape::of(c.x).to_string() << " k " << c.kh << "x" << c.kw << " pads "
                                    << c.pads[0] << "," << c.pads[1] << "," << c.pads[2] << "," << c.pads[3]);
  Graph g = stem_graph(c);
  Graph before = g;
  auto pass = make_layout_nhwc_pass();
  ASSERT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kPad), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 2) << print_graph(g);
  // One transpose into space-to-depth NHWC, one back to NCHW for the graph output.
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 2) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kFusedConv), 1);
  const int64_t cp = c.x[1] + c.x[1] % 2;
  for (const Node& n : g.nodes) {
    if (n.op == OpKind::kTranspose && n.attrs.get_ints("perm").size() == 6)
      EXPECT_EQ(n.attrs.get_ints("perm"), (std::vector<int64_t>{0, 2, 4, 3, 5, 1}));
    if (n.op != OpKind::kFusedConv) continue;
    EXPECT_EQ(n.attrs.get_string("layout"), "NHWC");
    EXPECT_EQ(n.attrs.get_ints("strides"), (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<int64_t>{0, 0, 0, 0}));
    EXPECT_EQ(g.initializers.at(n.inputs[1]).dims(), (Dims{c.m, (c.kh + 1) / 2, (c.kw + 1) / 2, 4 * cp}));
  }
  expect_same_outputs(before, g, 1e-5);
}

TEST(LayoutStem, ResNetStem) { check_stem({{2, 3, 32, 32}, 8, 7, 7, {3, 3, 3, 3}, true, true, false}); }
TEST(LayoutStem, ResNetStemFusedConv) { check_stem({{1, 3, 30, 30}, 8, 7, 7, {3, 3, 3, 3}, true, true, true}); }
TEST(LayoutStem, OddImage225) { check_stem({{1, 3, 225, 225}, 4, 7, 7, {3, 3, 3, 3}, true, false, false}); }
TEST(LayoutStem, Kernel3Pad1) {
  check_stem({{3, 3, 17, 16}, 5, 3, 3, {1, 1, 1, 1}, false, false, false});
  check_stem({{1, 3, 16, 17}, 5, 3, 3, {1, 1, 1, 1}, true, true, true});
}
TEST(LayoutStem, Kernel5AsymmetricPads) {
  check_stem({{3, 3, 19, 22}, 6, 5, 5, {2, 1, 1, 2}, true, false, false});
  check_stem({{1, 3, 20, 21}, 6, 5, 3, {0, 2, 2, 0}, false, true, true});
}
TEST(LayoutStem, OtherChannelCounts) {
  check_stem({{2, 1, 12, 12}, 4, 3, 3, {1, 1, 1, 1}, true, true, false});  // C 1 -> 2 (8 channels)
  check_stem({{2, 2, 12, 13}, 4, 3, 3, {1, 1, 1, 1}, true, false, false});
  check_stem({{2, 4, 13, 12}, 4, 7, 7, {3, 3, 3, 3}, false, true, true});  // 16 channels, no channel pad
}
// An even kernel whose last padded row is never read: the trailing pad is negative (Pad crops it).
TEST(LayoutStem, EvenKernelCropsUnreadRow) {
  check_stem({{1, 3, 15, 15}, 4, 4, 4, {0, 0, 0, 0}, true, false, false});
  check_stem({{1, 3, 16, 15}, 4, 2, 2, {0, 1, 0, 0}, true, true, false});
}
TEST(LayoutStem, DynamicBatch) { check_stem({{0, 3, 14, 14}, 4, 7, 7, {3, 3, 3, 3}, true, true, false}); }

// Under fp16 the Pad, Reshapes and Transpose are data movers whose readers are lowered: the input Cast moves up to
// the graph input, so the whole space-to-depth path copies half the bytes.
TEST(LayoutStem, Float16CastMovesToTheGraphInput) {
  Graph g = stem_graph({{2, 3, 32, 32}, 8, 7, 7, {3, 3, 3, 3}, true, true, false});
  auto pass = make_layout_nhwc_pass();
  ASSERT_TRUE(run_pass_checked(*pass, g));
  ASSERT_TRUE(lower_precision(g, PrecisionOptions{}).ok());
  ASSERT_FALSE(g.nodes.empty());
  EXPECT_EQ(g.nodes[0].op, OpKind::kCast) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kPad || n.op == OpKind::kTranspose || n.op == OpKind::kReshape || n.op == OpKind::kFusedConv)
      EXPECT_EQ(g.type_of(n.outputs[0])->dtype, DType::kFloat16) << n.describe() << "\n" << print_graph(g);
}

TEST(LayoutStem, PlanGeometry) {
  Graph g = stem_graph({{128, 3, 224, 224}, 64, 7, 7, {3, 3, 3, 3}, true, true, false});
  std::optional<StemPlan> p = plan_space_to_depth_stem(g, g.nodes[0]);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->channels_padded, 4);
  EXPECT_EQ(p->new_kernel[0], 4);
  EXPECT_EQ(p->padded[0], 230);  // 2 * (112 - 1 + 4)
  EXPECT_EQ(p->pad_begin[0], 3);
  EXPECT_EQ(p->pad_end[0], 3);
}

// Convs that keep the entry transpose: stride 1, dilated, grouped, too many channels, auto_pad, 1x1 kernels.
TEST(LayoutStem, NonQualifyingConvsKeepTheEntryTranspose) {
  auto variants = std::vector<std::function<void(Node&)>>{
      [](Node& n) {
        n.attrs.set("strides", std::vector<int64_t>{1, 1});
      },
      [](Node& n) {
        n.attrs.set("strides", std::vector<int64_t>{2, 1});
      },
      [](Node& n) {
        n.attrs.set("dilations", std::vector<int64_t>{2, 2});
      },
      [](Node& n) { n.attrs.set("auto_pad", std::string("SAME_UPPER")); },
  };
  for (size_t v = 0; v < variants.size(); ++v) {
    Graph g = stem_graph({{1, 3, 16, 16}, 4, 3, 3, {1, 1, 1, 1}, true, false, false});
    variants[v](g.nodes[0]);
    if (v == 3) g.nodes[0].attrs.erase("pads");
    ASSERT_TRUE(reinfer_types(g).ok());
    EXPECT_FALSE(plan_space_to_depth_stem(g, g.nodes[0]).has_value()) << v;
    Graph before = g;
    auto pass = make_layout_nhwc_pass();
    ASSERT_TRUE(run_pass_checked(*pass, g));
    EXPECT_EQ(count_ops(g, OpKind::kReshape), 0) << v << print_graph(g);
    expect_same_outputs(before, g, 1e-5);
  }
  Graph wide = stem_graph({{1, 5, 16, 16}, 4, 3, 3, {1, 1, 1, 1}, true, false, false});
  EXPECT_FALSE(plan_space_to_depth_stem(wide, wide.nodes[0]).has_value());
  Graph point = stem_graph({{1, 3, 16, 16}, 4, 1, 1, {0, 0, 0, 0}, true, false, false});
  EXPECT_FALSE(plan_space_to_depth_stem(point, point.nodes[0]).has_value());
}

}  // namespace
}  // namespace kiln_pass_test
