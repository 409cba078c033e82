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

TEST(SimplifyTransposeReshape, NegativeCases) {
  GraphBuilder b;
  b.batched_input("x", {3, 4}).ints("s", {0, 12}).ints("s2", {0, 4, 3});
  b.input("z", {2, 3, 1});
  b.node(OpKind::kReshape, {"x", "s"}, {"r"});
  b.node(OpKind::kReshape, {"r", "s2"}, {"y"});  // dynamic batch: no static target
  b.node(OpKind::kTranspose, {"z"}, {"t"}).attrs.set("perm", std::vector<int64_t>{1, 0, 2});  // moves real data
  b.output("y").output("t");
  Graph g = b.finish();
  auto pass = make_simplify_transpose_reshape_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 3u);
}

}  // namespace
}  // namespace kiln_pass_test
