// eliminate_dead_code: unread nodes and initializers go; graph outputs and subgraph reads keep values alive.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

TEST(EliminateDeadCode, RemovesUnreadChainsAndInitializers) {
  GraphBuilder b;
  b.input("x", {2, 3}).floats("w", {2, 3}).floats("unused", {5});
  b.node(OpKind::kAdd, {"x", "w"}, {"a"});
  b.node(OpKind::kExp, {"a"}, {"dead1"});
  b.node(OpKind::kNeg, {"dead1"}, {"dead2"});
  b.node(OpKind::kRelu, {"a"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_eliminate_dead_code_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.initializers.count("unused"), 0u);
  EXPECT_EQ(g.initializers.count("w"), 1u);
  EXPECT_EQ(g.type_of("dead2"), nullptr);
  expect_same_outputs(before, g);
  EXPECT_FALSE(run_pass_checked(*pass, g));  // idempotent
}

TEST(EliminateDeadCode, SubgraphOuterReadsKeepProducersAlive) {
  auto body = std::make_shared<Graph>();
  body->name = "branch";
  Node used, dead;
  used.op = OpKind::kNeg;
  used.name = "inner_used";
  used.inputs = {"kept"};
  used.outputs = {"bo"};
  dead.op = OpKind::kAbs;
  dead.name = "inner_dead";
  dead.inputs = {"only_dead_reads_me"};
  dead.outputs = {"unused_inner"};
  body->nodes = {used, dead};
  body->outputs.push_back(ValueInfo{"bo", TypeInfo{}});
  GraphBuilder b;
  b.input("x", {3}).input("cond", {}, DType::kBool);
  b.node(OpKind::kRelu, {"x"}, {"kept"});
  b.node(OpKind::kExp, {"x"}, {"only_dead_reads_me"});
  Node& iff = b.node(OpKind::kIf, {"cond"}, {"y"});
  iff.attrs.set("then_branch", body);
  iff.attrs.set("else_branch", body);
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_eliminate_dead_code_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 1) << "read from inside the If: must stay";
  EXPECT_EQ(count_ops(g, OpKind::kExp), 0) << "read only by a dead inner node";
  EXPECT_EQ(g.nodes.back().attrs.get_graph("then_branch")->nodes.size(), 1u);
  EXPECT_EQ(body->nodes.size(), 2u) << "the shared original body must not be edited";
  expect_same_outputs(before, g);
}

TEST(EliminateDeadCode, NothingToDo) {
  GraphBuilder b;
  b.input("x", {3});
  b.node(OpKind::kRelu, {"x"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  auto pass = make_eliminate_dead_code_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 1u);
}

}  // namespace
}  // namespace kiln_pass_test
