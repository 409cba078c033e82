// IR: verify_graph catches malformed graphs; print_graph shows the ops.
#include <gtest/gtest.h>

#include "ir/graph.h"

namespace kiln {
namespace {

Node make_node(OpKind op, const std::string& name, std::vector<std::string> ins, std::vector<std::string> outs) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}

Graph small_graph() {
  Graph g;
  g.name = "main";
  g.inputs.push_back({"x", TypeInfo::tensor(DType::kFloat32, Shape::of({2, 3}))});
  g.outputs.push_back({"z", TypeInfo::tensor(DType::kFloat32, Shape::of({2, 3}))});
  g.initializers["w"] = Tensor::from_vector<float>(DType::kFloat32, {3}, {1, 2, 3});
  g.nodes.push_back(make_node(OpKind::kRelu, "relu", {"x"}, {"y"}));
  g.nodes.push_back(make_node(OpKind::kAdd, "add", {"y", "w"}, {"z"}));
  return g;
}

TEST(IrVerify, AcceptsWellFormedGraph) { EXPECT_TRUE(verify_graph(small_graph()).ok()) << verify_graph(small_graph()).message(); }

TEST(IrVerify, CatchesUndefinedInput) {
  Graph g = small_graph();
  g.nodes[1].inputs[1] = "nowhere";
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nowhere"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("add"), std::string::npos) << st.message();
}

TEST(IrVerify, CatchesUseBeforeDefinition) {
  Graph g = small_graph();
  std::swap(g.nodes[0], g.nodes[1]);  // Add reads y before Relu produces it
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'y'"), std::string::npos) << st.message();
}

TEST(IrVerify, CatchesDuplicateOutputs) {
  Graph g = small_graph();
  g.nodes.push_back(make_node(OpKind::kNeg, "neg", {"x"}, {"y"}));  // y produced twice
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'y'"), std::string::npos) << st.message();
}

TEST(IrVerify, CatchesOutputShadowingInput) {
  Graph g = small_graph();
  g.nodes[0].outputs[0] = "x";
  g.nodes[1].inputs[0] = "x";
  EXPECT_FALSE(verify_graph(g).ok());
}

TEST(IrVerify, CatchesDuplicateNodeNames) {
  Graph g = small_graph();
  g.nodes[1].name = "relu";
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("relu"), std::string::npos) << st.message();
}

TEST(IrVerify, CatchesMissingGraphOutputAndInvalidOp) {
  Graph g = small_graph();
  g.outputs.push_back({"ghost", TypeInfo{}});
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ghost"), std::string::npos) << st.message();

  Graph h = small_graph();
  h.nodes[0].op = OpKind::kInvalid;
  EXPECT_FALSE(verify_graph(h).ok());
}

TEST(IrVerify, SubgraphMaySeeOuterNamesOnly) {
  Graph g = small_graph();
  auto body = std::make_shared<Graph>();
  body->name = "then";
  body->outputs.push_back({"t", TypeInfo{}});
  body->nodes.push_back(make_node(OpKind::kIdentity, "id", {"y"}, {"t"}));  // reads outer 'y'
  auto else_body = std::make_shared<Graph>(*body);
  else_body->name = "else";
  g.initializers["cond"] = Tensor::scalar<uint8_t>(DType::kBool, 1);
  Node n = make_node(OpKind::kIf, "if", {"cond"}, {"r"});
  n.attrs.set("then_branch", body);
  n.attrs.set("else_branch", else_body);
  g.nodes.push_back(n);
  EXPECT_TRUE(verify_graph(g).ok()) << verify_graph(g).message();

  body->nodes[0].inputs[0] = "undefined_in_any_scope";
  Status st = verify_graph(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("undefined_in_any_scope"), std::string::npos) << st.message();
}

TEST(IrPrinter, ShowsOpsValuesAndConstants) {
  Graph g = small_graph();
  std::string s = print_graph(g);
  EXPECT_NE(s.find("Relu"), std::string::npos) << s;
  EXPECT_NE(s.find("Add"), std::string::npos) << s;
  EXPECT_NE(s.find("const w"), std::string::npos) << s;
  EXPECT_NE(s.find("graph main"), std::string::npos) << s;
  EXPECT_LT(s.find("Relu"), s.find("Add")) << s;
}

TEST(IrGraph, FreshNamesAreUnique) {
  Graph g = small_graph();
  std::string a = g.fresh_name("y"), b = g.fresh_name("y");
  EXPECT_NE(a, b);
  EXPECT_NE(a, "y");
  std::string c = g.add_constant("k", Tensor::scalar<float>(DType::kFloat32, 1.f));
  EXPECT_TRUE(g.initializers.count(c));
}

}  // namespace
}  // namespace kiln
