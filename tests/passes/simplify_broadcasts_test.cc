// simplify_broadcasts: an exporter-style attention-mask chain (arange Gather, And with all-true, Where, Add to the
// scores) keeps the mask at [B, 1, 1, S]; Cast below Expand; negative cases; outputs equal before and after.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

Tensor bools(const std::vector<int64_t>& dims, bool value) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return Tensor::from_vector<uint8_t>(DType::kBool, dims, std::vector<uint8_t>(static_cast<size_t>(n), value));
}

Tensor int64s(const std::vector<int64_t>& dims, std::vector<int64_t> values) {
  return Tensor::from_vector<int64_t>(DType::kInt64, dims, std::move(values));
}

// mask [2, 8] (> 0 keeps a key) -> [16, 1] -> Gather(arange as [2,1,1,8]) -> [2,1,1,8] -> And(all-true [1,1,8,8])
// -> Where(0, -1e4) -> Add to scores [2, 3, 8, 8].
GraphBuilder mask_chain(bool all_true) {
  GraphBuilder b;
  b.input("mask", {2, 8}).input("scores", {2, 3, 8, 8});
  std::vector<int64_t> arange(16);
  for (int64_t i = 0; i < 16; ++i) arange[i] = i;
  Tensor truth = bools({1, 1, 8, 8}, true);
  if (!all_true) truth.data<uint8_t>()[5] = 0;
  b.constant("zero", Tensor::from_vector<float>(DType::kFloat32, {}, {0.f}));
  b.constant("neg", Tensor::from_vector<float>(DType::kFloat32, {}, {-1e4f}));
  b.constant("flat", int64s({2}, {16, 1})).constant("idx", int64s({2, 1, 1, 8}, arange));
  b.constant("rank4", int64s({4}, {2, 1, 1, 8})).constant("truth", truth);
  b.node(OpKind::kGreater, {"mask", "zero"}, {"keep"});
  b.node(OpKind::kReshape, {"keep", "flat"}, {"keep_flat"});
  b.node(OpKind::kGather, {"keep_flat", "idx"}, {"gathered"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"gathered", "rank4"}, {"keep4"});
  b.node(OpKind::kAnd, {"keep4", "truth"}, {"both"});
  b.node(OpKind::kWhere, {"both", "zero", "neg"}, {"bias"});
  b.node(OpKind::kAdd, {"scores", "bias"}, {"y"});
  b.output("y");
  return b;
}

TEST(SimplifyBroadcasts, MaskChainStaysSmall) {
  Graph g = mask_chain(true).finish();
  Graph before = g;
  auto pass = make_simplify_broadcasts_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kGather), 0) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kAnd), 0) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kExpand), 0) << print_graph(g);
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kWhere) {
      auto dims = static_shape(g, n.outputs[0]);
      ASSERT_TRUE(dims.has_value());
      EXPECT_EQ(*dims, (std::vector<int64_t>{2, 1, 1, 8})) << print_graph(g);
    }
  expect_same_outputs(before, g);
}

TEST(SimplifyBroadcasts, AndWithNonConstantTruthStays) {
  Graph g = mask_chain(false).finish();
  auto pass = make_simplify_broadcasts_pass();
  run_pass_checked(*pass, g);
  EXPECT_EQ(count_ops(g, OpKind::kAnd), 1) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kGather), 0) << print_graph(g);  // the arange Gather still becomes a Reshape
}

TEST(SimplifyBroadcasts, GatherOfPartialOrPermutedRangeStays) {
  GraphBuilder b;
  b.input("x", {4, 3});
  b.constant("perm", int64s({4}, {1, 0, 2, 3})).constant("part", int64s({3}, {0, 1, 2}));
  b.node(OpKind::kGather, {"x", "perm"}, {"a"});
  b.node(OpKind::kGather, {"x", "part"}, {"c"});
  b.output("a").output("c");
  Graph g = b.finish();
  auto pass = make_simplify_broadcasts_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kGather), 2);
}

TEST(SimplifyBroadcasts, CastMovesBelowExpandAndMulBypassesIt) {
  GraphBuilder b;
  b.input("x", {2, 1, 8}).input("z", {2, 4, 8});
  b.constant("shape", int64s({3}, {2, 4, 8}));
  b.node(OpKind::kExpand, {"x", "shape"}, {"e"});
  b.node(OpKind::kCast, {"e"}, {"h"}).attrs.set("to", int64_t{10});  // float16
  b.node(OpKind::kCast, {"h"}, {"f"}).attrs.set("to", int64_t{1});
  b.node(OpKind::kMul, {"f", "z"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_broadcasts_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kExpand), 0) << print_graph(g);
  expect_same_outputs(before, g, 1e-3);
}

// Attention-23 reads a mask whose last axis is shorter than the keys as padded with -inf, not broadcast: an Expand
// that widens the mask's last axis from 1 to the key length must stay; one that widens only leading axes goes.
TEST(SimplifyBroadcasts, AttentionMaskExpandOfTheKeyAxisStays) {
  for (bool widens_keys : {true, false}) {
    SCOPED_TRACE(widens_keys ? "mask [2,1,4,1] expanded to [2,1,4,6]" : "mask [1,1,4,6] expanded to [2,1,4,6]");
    GraphBuilder b;
    b.input("q", {2, 3, 4, 8}).input("k", {2, 3, 6, 8}).input("v", {2, 3, 6, 8});
    b.input("m", widens_keys ? std::vector<int64_t>{2, 1, 4, 1} : std::vector<int64_t>{1, 1, 4, 6});
    b.constant("shape", int64s({4}, {2, 1, 4, 6}));
    b.node(OpKind::kExpand, {"m", "shape"}, {"mask"});
    b.node(OpKind::kAttention, {"q", "k", "v", "mask"}, {"y"}, 23);
    b.output("y");
    Graph g = b.finish();
    Graph before = g;
    auto pass = make_simplify_broadcasts_pass();
    const bool changed = run_pass_checked(*pass, g);
    EXPECT_EQ(changed, !widens_keys) << print_graph(g);
    for (const Node& n : g.nodes)
      if (n.op == OpKind::kAttention) EXPECT_EQ(n.inputs[3], widens_keys ? "mask" : "m") << print_graph(g);
    expect_same_outputs(before, g, 1e-4);
  }
}

}  // namespace
}  // namespace kiln_pass_test
