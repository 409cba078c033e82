// pass_util: use maps with subgraph reads, single-consumer test, rewiring that keeps output names, topo_sort,
// permute_tensor.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

Graph graph_with_if() {
  auto body = std::make_shared<Graph>();
  body->name = "then";
  Node neg;
  neg.op = OpKind::kNeg;
  neg.name = "inner";
  neg.inputs = {"r"};
  neg.outputs = {"bo"};
  body->nodes = {neg};
  body->outputs.push_back(ValueInfo{"bo", TypeInfo{}});
  GraphBuilder b;
  b.input("x", {3}).input("cond", {}, DType::kBool);
  b.node(OpKind::kRelu, {"x"}, {"r"});
  b.node(OpKind::kExp, {"x"}, {"e"});
  b.node(OpKind::kAbs, {"e"}, {"a"});
  Node& iff = b.node(OpKind::kIf, {"cond"}, {"i"});
  iff.attrs.set("then_branch", body);
  iff.attrs.set("else_branch", body);
  b.output("i").output("a");
  return b.finish();
}

TEST(PassUtil, UsesIncludeSubgraphReads) {
  Graph g = graph_with_if();
  auto uses = build_use_map(g);
  ASSERT_EQ(uses["r"].size(), 1u);
  EXPECT_EQ(uses["r"][0].node, 3u);
  EXPECT_EQ(uses["r"][0].input, kSubgraphUse);
  EXPECT_EQ(consumers(g, "x").size(), 2u);
  EXPECT_FALSE(has_single_consumer(g, "r")) << "a subgraph read cannot be rewired by a fusion";
  EXPECT_TRUE(has_single_consumer(g, "e"));
  EXPECT_FALSE(has_single_consumer(g, "a")) << "graph output";
  EXPECT_EQ(outer_reads(*g.nodes[3].attrs.get_graph("then_branch")), std::set<std::string>{"r"});
  EXPECT_EQ(producer_index(g, "a"), std::optional<size_t>(2));
  EXPECT_EQ(producer_index(g, "x"), std::nullopt);
}

TEST(PassUtil, ReplaceKeepsGraphOutputNames) {
  Graph g = graph_with_if();
  EXPECT_FALSE(replace_all_uses(g, "a", "e")) << "graph outputs are not renamed by replace_all_uses";
  // Make "e" stand for "a": Exp now produces "a" directly; the Abs node is left for the caller to remove.
  EXPECT_TRUE(replace_value_keep_output(g, "a", "e"));
  EXPECT_EQ(g.nodes[1].outputs[0], "a");
  remove_nodes(g, {2});
  EXPECT_TRUE(verify_graph(g).ok()) << print_graph(g);
  EXPECT_FALSE(replace_value_keep_output(g, "a", "x")) << "a graph input cannot take an output's name";
  EXPECT_TRUE(replace_all_uses(g, "r", "x"));
  EXPECT_EQ(g.nodes[2].attrs.get_graph("then_branch")->nodes[0].inputs[0], "x");
}

TEST(PassUtil, TopoSortRestoresOrder) {
  Graph g = graph_with_if();
  std::swap(g.nodes[0], g.nodes[3]);  // the If (reading r from its body) before Relu
  std::swap(g.nodes[1], g.nodes[2]);  // Abs before Exp
  EXPECT_FALSE(verify_graph(g).ok());
  ASSERT_TRUE(topo_sort(g).ok());
  EXPECT_TRUE(verify_graph(g).ok()) << print_graph(g);
  size_t relu = *producer_index(g, "r"), iff = *producer_index(g, "i");
  EXPECT_LT(relu, iff) << "outer-scope reads of subgraphs order nodes too";
  g.nodes[0].inputs = {g.nodes.back().outputs[0]};
  g.nodes.back().inputs = {g.nodes[0].outputs[0]};
  EXPECT_FALSE(topo_sort(g).ok());
}

TEST(PassUtil, PermuteTensor) {
  Tensor t = Tensor::from_vector<int64_t>(DType::kInt64, {2, 3}, {0, 1, 2, 3, 4, 5});
  auto p = permute_tensor(t, {1, 0});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->dims(), (Dims{3, 2}));
  std::vector<int64_t> got;
  for (int64_t i = 0; i < 6; ++i) got.push_back(p->as_int64(i));
  EXPECT_EQ(got, (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_FALSE(permute_tensor(t, {0, 0}).ok());
  EXPECT_FALSE(permute_tensor(t, {0}).ok());
}

}  // namespace
}  // namespace kiln_pass_test
