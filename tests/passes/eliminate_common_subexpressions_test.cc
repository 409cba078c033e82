// eliminate_common_subexpressions: equal nodes merge (chains too); different attrs, random ops and subgraphs don't.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

TEST(EliminateCommonSubexpressions, MergesEqualNodesAndTheirChains) {
  GraphBuilder b;
  b.input("x", {2, 3}).floats("w", {3, 4});
  b.node(OpKind::kMatMul, {"x", "w"}, {"m1"});
  b.node(OpKind::kMatMul, {"x", "w"}, {"m2"});
  b.node(OpKind::kRelu, {"m1"}, {"r1"});
  b.node(OpKind::kRelu, {"m2"}, {"r2"});  // equal once m2 is merged into m1
  b.node(OpKind::kAdd, {"r1", "r2"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_eliminate_common_subexpressions_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kMatMul), 1);
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 1);
  EXPECT_EQ(g.nodes.back().inputs[0], g.nodes.back().inputs[1]);
  expect_same_outputs(before, g);
}

TEST(EliminateCommonSubexpressions, MergesCopiesOfOneConstant) {
  GraphBuilder b;
  b.input("x", {2, 6}).ints("s1", {3, 4}).ints("s2", {3, 4});
  b.node(OpKind::kReshape, {"x", "s1"}, {"a"});
  b.node(OpKind::kReshape, {"x", "s2"}, {"c"});
  b.node(OpKind::kSub, {"a", "c"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_eliminate_common_subexpressions_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kReshape), 1);
  EXPECT_EQ(g.initializers.size(), 1u);
  expect_same_outputs(before, g);
}

TEST(EliminateCommonSubexpressions, BothGraphOutputsStay) {
  GraphBuilder b;
  b.input("x", {3});
  b.node(OpKind::kExp, {"x"}, {"y1"});
  b.node(OpKind::kExp, {"x"}, {"y2"});
  b.output("y1").output("y2");
  Graph g = b.finish();
  auto pass = make_eliminate_common_subexpressions_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kExp), 2);
}

TEST(EliminateCommonSubexpressions, DuplicateProducingGraphOutputMergesIntoOther) {
  GraphBuilder b;
  b.input("x", {3});
  b.node(OpKind::kExp, {"x"}, {"e1"});
  b.node(OpKind::kNeg, {"e1"}, {"n"});
  b.node(OpKind::kExp, {"x"}, {"y"});
  b.output("n").output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_eliminate_common_subexpressions_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kExp), 1);
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  expect_same_outputs(before, g);
}

TEST(EliminateCommonSubexpressions, NegativeCases) {
  auto body = std::make_shared<Graph>();
  body->name = "b";
  Node id;
  id.op = OpKind::kIdentity;
  id.name = "inner";
  id.inputs = {"x"};
  id.outputs = {"bo"};
  body->nodes = {id};
  body->outputs.push_back(ValueInfo{"bo", TypeInfo{}});
  GraphBuilder b;
  b.input("x", {2, 3}).input("cond", {}, DType::kBool);
  b.node(OpKind::kLeakyRelu, {"x"}, {"l1"}).attrs.set("alpha", 0.1f);
  b.node(OpKind::kLeakyRelu, {"x"}, {"l2"}).attrs.set("alpha", 0.2f);  // different attribute
  b.node(OpKind::kRandomUniformLike, {"x"}, {"r1"});
  b.node(OpKind::kRandomUniformLike, {"x"}, {"r2"});  // nondeterministic
  Node& i1 = b.node(OpKind::kIf, {"cond"}, {"i1"});
  i1.attrs.set("then_branch", body);
  i1.attrs.set("else_branch", body);
  Node& i2 = b.node(OpKind::kIf, {"cond"}, {"i2"});  // subgraph attributes never merge
  i2.attrs.set("then_branch", body);
  i2.attrs.set("else_branch", body);
  b.node(OpKind::kSum, {"l1", "l2", "r1", "r2", "i1", "i2"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  auto pass = make_eliminate_common_subexpressions_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 7u);
}

}  // namespace
}  // namespace kiln_pass_test
