// simplify_transpose_reshape: transpose chains compose or cancel, reshape chains collapse, unit-dim transposes
// become reshapes; dynamic shapes are left alone.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

TEST(SimplifyTransposeReshape, InverseTransposesCancel) {
  GraphBuilder b;
  b.input("x", {2, 3, 4, 5});
  b.node(OpKind::kTranspose, {"x"}, {"t1"}).attrs.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  b.node(OpKind::kTranspose, {"t1"}, {"t2"}).attrs.set("perm", std::vector<int64_t>{0, 3, 1, 2});
  b.node(OpKind::kRelu, {"t2"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0) << print_graph(g);
  expect_same_outputs(before, g);
}

TEST(SimplifyTransposeReshape, TransposesCompose) {
  GraphBuilder b;
  b.input("x", {2, 3, 4});
  b.node(OpKind::kTranspose, {"x"}, {"t1"}).attrs.set("perm", std::vector<int64_t>{1, 2, 0});
  b.node(OpKind::kTranspose, {"t1"}, {"y"}).attrs.set("perm", std::vector<int64_t>{1, 2, 0});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  ASSERT_EQ(count_ops(g, OpKind::kTranspose), 1);
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.nodes[0].attrs.get_ints("perm"), (std::vector<int64_t>{2, 0, 1}));
  expect_same_outputs(before, g);
}

TEST(SimplifyTransposeReshape, ReshapeChainCollapses) {
  GraphBuilder b;
  b.input("x", {2, 3, 4}).ints("s", {6, 4}).ints("ax", {0});
  b.node(OpKind::kReshape, {"x", "s"}, {"r"});
  b.node(OpKind::kUnsqueeze, {"r", "ax"}, {"u"});
  b.node(OpKind::kFlatten, {"u"}, {"f"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kSqueeze, {"f", "ax"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].op, OpKind::kReshape);
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.outputs[0].name, "y");
  expect_same_outputs(before, g);
}

TEST(SimplifyTransposeReshape, UnitDimTransposeBecomesReshape) {
  GraphBuilder b;
  b.input("x", {2, 1, 1, 8});
  b.node(OpKind::kTranspose, {"x"}, {"y"}).attrs.set("perm", std::vector<int64_t>{0, 3, 1, 2});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0);
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 1);
  expect_same_outputs(before, g);
}

TEST(SimplifyTransposeReshape, DynamicBatchChainsUseCopyDims) {
  // [batch,3,4] -> [batch,12] -> [batch,4,3]: one Reshape with target [0,4,3]; the NHWC exit of a global pool
  // ([batch,1,1,C] -> [batch,C,1,1]) becomes a Reshape too.
  GraphBuilder b;
  b.batched_input("x", {3, 4}).ints("s", {0, 12}).ints("s2", {0, 4, 3});
  b.batched_input("p", {1, 1, 8});
  b.node(OpKind::kReshape, {"x", "s"}, {"r"});
  b.node(OpKind::kReshape, {"r", "s2"}, {"y"});
  b.node(OpKind::kTranspose, {"p"}, {"t"}).attrs.set("perm", std::vector<int64_t>{0, 3, 1, 2});
  b.output("y").output("t");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  auto dce = make_eliminate_dead_code_pass();
  run_pass_checked(*dce, g);
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 2) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0) << print_graph(g);
  for (const Node& n : g.nodes) EXPECT_EQ(g.initializers.at(n.inputs[1]).as_int64(0), 0) << n.describe();
  EXPECT_EQ(g.type_of("y")->to_string(), "float32[batch,4,3]");
  expect_same_outputs(before, g);
}

TEST(SimplifyTransposeReshape, NegativeCases) {
  GraphBuilder b;
  b.input("z", {2, 3, 1}).batched_input("d", {5, 1});
  b.node(OpKind::kTranspose, {"z"}, {"t"}).attrs.set("perm", std::vector<int64_t>{1, 0, 2});   // moves real data
  b.node(OpKind::kTranspose, {"d"}, {"td"}).attrs.set("perm", std::vector<int64_t>{1, 0, 2});  // batch may be > 1
  b.node(OpKind::kRelu, {"z"}, {"r"});  // not a reshape-like chain
  b.node(OpKind::kFlatten, {"r"}, {"f"});
  b.output("t").output("td").output("f");
  Graph g = b.finish();
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 4u);
}

}  // namespace
}  // namespace kiln_pass_test
