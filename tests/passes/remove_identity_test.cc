// remove_identity: each no-op kind disappears, outputs stay equal, graph output names survive; negative cases.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

TEST(RemoveIdentity, DropsEveryNoOpKind) {
  GraphBuilder b;
  b.input("x", {2, 3, 4, 5}).ints("perm_shape", {2, 3, 4, 5}).ints("zero_pads", {0, 0, 0, 0, 0, 0, 0, 0});
  b.ints("starts", {0, 0}).ints("ends", {2, 3}).ints("axes", {0, 1});
  b.node(OpKind::kIdentity, {"x"}, {"a"});
  b.node(OpKind::kDropout, {"a"}, {"b"});
  b.node(OpKind::kCast, {"b"}, {"c"}).attrs.set("to", int64_t{1});
  b.node(OpKind::kReshape, {"c", "perm_shape"}, {"d"});
  b.node(OpKind::kTranspose, {"d"}, {"e"}).attrs.set("perm", std::vector<int64_t>{0, 1, 2, 3});
  b.node(OpKind::kPad, {"e", "zero_pads"}, {"f"});
  b.node(OpKind::kSlice, {"f", "starts", "ends", "axes"}, {"h"});
  b.node(OpKind::kConcat, {"h"}, {"i"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kRelu, {"i"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_remove_identity_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(count_ops(g, OpKind::kRelu), 1);
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  expect_same_outputs(before, g);
}

TEST(RemoveIdentity, KeepsGraphOutputNameByRenamingProducer) {
  GraphBuilder b;
  b.input("x", {4});
  b.node(OpKind::kRelu, {"x"}, {"r"});
  b.node(OpKind::kIdentity, {"r"}, {"y"});
  b.node(OpKind::kNeg, {"r"}, {"z"});
  b.output("y").output("z");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_remove_identity_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kIdentity), 0);
  EXPECT_EQ(g.outputs[0].name, "y");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");  // Relu now produces the graph output directly
  EXPECT_EQ(g.nodes[1].inputs[0], "y");   // and Neg reads it under that name
  expect_same_outputs(before, g);
}

TEST(RemoveIdentity, InputStraightToOutputStays) {
  GraphBuilder b;
  b.input("x", {4});
  b.node(OpKind::kIdentity, {"x"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  auto pass = make_remove_identity_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 1u);
}

TEST(RemoveIdentity, NegativeCases) {
  GraphBuilder b;
  b.input("x", {2, 3}).ints("shape", {3, 2}).ints("pads", {0, 1, 0, 0});
  b.constant("train", Tensor::scalar<bool>(DType::kBool, true));
  b.constant("ratio", Tensor::scalar<float>(DType::kFloat32, 0.5f));
  b.node(OpKind::kDropout, {"x"}, {"d", "mask"});                    // mask is read: keep
  b.node(OpKind::kCast, {"d"}, {"c"}).attrs.set("to", int64_t{11});  // to double: keep
  b.node(OpKind::kReshape, {"x", "shape"}, {"r"});                   // changes the shape: keep
  b.node(OpKind::kTranspose, {"x"}, {"t"}).attrs.set("perm", std::vector<int64_t>{1, 0});
  b.node(OpKind::kPad, {"x", "pads"}, {"p"});                 // pads non-zero: keep
  b.node(OpKind::kDropout, {"x", "ratio", "train"}, {"dt"});  // training mode: keep
  b.output("mask").output("c").output("r").output("t").output("p").output("dt");
  Graph g = b.finish();
  auto pass = make_remove_identity_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 6u);
}

TEST(RemoveIdentity, DropoutWithUnreadMaskGoes) {
  GraphBuilder b;
  b.input("x", {2, 3});
  b.constant("notrain", Tensor::scalar<bool>(DType::kBool, false));
  b.constant("ratio", Tensor::scalar<float>(DType::kFloat32, 0.3f));
  b.node(OpKind::kDropout, {"x", "ratio", "notrain"}, {"d", "mask"});
  b.node(OpKind::kRelu, {"d"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_remove_identity_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kDropout), 0);
  expect_same_outputs(before, g);
}

TEST(RemoveIdentity, SubgraphReadsAreRewired) {
  // An If branch reads the Identity's output from the outer scope: it must read the source instead.
  auto branch = std::make_shared<Graph>();
  branch->name = "then";
  Node neg;
  neg.op = OpKind::kNeg;
  neg.name = "inner_neg";
  neg.inputs = {"id"};
  neg.outputs = {"bo"};
  neg.opset = 17;
  branch->nodes.push_back(neg);
  branch->outputs.push_back(ValueInfo{"bo", TypeInfo{}});
  GraphBuilder b;
  b.input("x", {3}).input("cond", {}, DType::kBool);
  b.node(OpKind::kRelu, {"x"}, {"r"});
  b.node(OpKind::kIdentity, {"r"}, {"id"});
  Node& iff = b.node(OpKind::kIf, {"cond"}, {"y"});
  iff.attrs.set("then_branch", branch);
  iff.attrs.set("else_branch", branch);
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_remove_identity_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kIdentity), 0);
  EXPECT_EQ(branch->nodes[0].inputs[0], "id") << "the shared original subgraph must not be edited";
  expect_same_outputs(before, g);
}

}  // namespace
}  // namespace kiln_pass_test
