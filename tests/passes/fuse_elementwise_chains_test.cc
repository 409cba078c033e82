// Tests of fuse_elementwise_chains: chains and trees of float elementwise ops become one FusedElementwise with
// scalar constants inlined; shared intermediates split groups, single ops and float64 stay; cuda-only placement.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

TEST(FuseElementwiseChains, ChainWithConstantsAndParameters) {
  GraphBuilder b(13);
  b.input("x", {3, 8}).input("z", {8}).constant("half", scalar_f32(0.5f)).constant("lo", scalar_f32(-0.2f));
  b.constant("hi", scalar_f32(0.7f));
  b.node(OpKind::kMul, {"x", "half"}, {"a"});
  b.node(OpKind::kAdd, {"a", "z"}, {"b"});
  b.node(OpKind::kLeakyRelu, {"b"}, {"c"}).attrs.set("alpha", 0.1f);
  b.node(OpKind::kTanh, {"c"}, {"d"});
  b.node(OpKind::kClip, {"d", "lo", "hi"}, {"e"});
  b.node(OpKind::kGelu, {"e"}, {"y"}, 20);
  b.output("y");
  auto pass = make_fuse_elementwise_chains_pass();
  Graph g = run_and_compare(*pass, b.finish(), true, 1e-6);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  const Node& f = g.nodes[0];
  EXPECT_EQ(f.op, OpKind::kFusedElementwise);
  EXPECT_EQ(f.inputs, (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(f.attrs.get_strings("program"),
            (std::vector<std::string>{"Mul i0 #0.5", "Add s0 i1", "LeakyRelu s1 #0.100000001", "Tanh s2",
                                      "Clip s3 #-0.200000003 #0.699999988", "Gelu s4"}));
}

TEST(FuseElementwiseChains, TreeWithRepeatedInputAndSquare) {
  // ((a + b) * (a - c)) then squared with Mul(t, t): one group, inputs deduplicated.
  GraphBuilder b;
  b.input("a", {4, 5}).input("bb", {4, 5}).input("c", {1, 5});
  b.node(OpKind::kAdd, {"a", "bb"}, {"p"});
  b.node(OpKind::kSub, {"a", "c"}, {"q"});
  b.node(OpKind::kMul, {"p", "q"}, {"t"});
  b.node(OpKind::kMul, {"t", "t"}, {"y"});
  b.output("y");
  auto pass = make_fuse_elementwise_chains_pass();
  Graph g = run_and_compare(*pass, b.finish(), true, 1e-6);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"a", "bb", "c"}));
  EXPECT_EQ(g.nodes[0].attrs.get_strings("program").back(), "Mul s2 s2");
}

TEST(FuseElementwiseChains, SharedIntermediateSplitsGroups) {
  // t feeds two ops: {Exp -> Neg} fuses; the Add producing t and the Abs reading t stay alone.
  GraphBuilder b;
  b.input("x", {6}).input("w", {6});
  b.node(OpKind::kAdd, {"x", "w"}, {"t"});
  b.node(OpKind::kExp, {"t"}, {"e"});
  b.node(OpKind::kNeg, {"e"}, {"y1"});
  b.node(OpKind::kAbs, {"t"}, {"y2"});
  b.output("y1").output("y2");
  auto pass = make_fuse_elementwise_chains_pass();
  Graph g = run_and_compare(*pass, b.finish(), true, 1e-6);
  EXPECT_EQ(count_ops(g, OpKind::kFusedElementwise), 1);
  EXPECT_EQ(count_ops(g, OpKind::kAdd), 1);
  EXPECT_EQ(count_ops(g, OpKind::kAbs), 1);
}

TEST(FuseElementwiseChains, SingleOpsAndFloat64Stay) {
  auto pass = make_fuse_elementwise_chains_pass();
  GraphBuilder b;
  b.input("x", {6}).input("w", {6});
  b.node(OpKind::kAdd, {"x", "w"}, {"y"});
  b.output("y");
  run_and_compare(*pass, b.finish(), false);
  GraphBuilder d;
  d.input("x", {6}, DType::kFloat64);
  d.node(OpKind::kExp, {"x"}, {"e"});
  d.node(OpKind::kNeg, {"e"}, {"y"});
  d.output("y");
  Graph g = d.finish();
  Graph after = g;
  EXPECT_FALSE(run_pass_checked(*pass, after));
}

TEST(FuseElementwiseChains, RankWideningConstantStaysAnInput) {
  // x [4] * c [1,1] is [1,4]: inlining c as #2 would lose the rank, so c stays input 1.
  GraphBuilder b;
  b.input("x", {4}).constant("c", filled({1, 1}, 2.f)).constant("k", scalar_f32(3.f));
  b.node(OpKind::kMul, {"x", "c"}, {"m"});
  b.node(OpKind::kAdd, {"m", "k"}, {"y"});
  b.output("y");
  auto pass = make_fuse_elementwise_chains_pass();
  Graph g = run_and_compare(*pass, b.finish(), true, 1e-6);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"x", "c"}));
  EXPECT_EQ(g.nodes[0].attrs.get_strings("program"), (std::vector<std::string>{"Mul i0 i1", "Add s0 #3"}));
}

TEST(FuseElementwiseChains, RunsOnlyForCuda) {
  PassOptions cpu, cuda;
  cuda.device = "cuda";
  auto has = [](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), "fuse_elementwise_chains") != v.end();
  };
  const std::vector<std::string> cpu_names = pass_names(cpu);
  EXPECT_FALSE(has(cpu_names));
  EXPECT_TRUE(has(pass_names(cuda)));
  for (const char* p : {"fuse_conv_bn", "fuse_gelu", "fuse_layer_norm", "fuse_rms_norm", "fuse_attention",
                        "fuse_conv_activation", "fuse_matmul_bias_activation"})
    EXPECT_NE(std::find(cpu_names.begin(), cpu_names.end(), p), cpu_names.end()) << p;
}

}  // namespace
