// Tests of lower_einsum: two-operand contractions (batched, with ellipsis, implicit output, outer and inner
// products, a dynamic batch) become MatMul with Transposes/Reshapes and give the reference Einsum's results; the
// forms it does not lower (diagonals, one-sided sums, three operands, broadcasting batch labels) stay Einsum.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

struct Case {
  std::string equation;
  std::vector<int64_t> a, b;
};

Graph einsum_graph(const Case& c, bool dynamic_batch = false) {
  GraphBuilder b(40);
  if (dynamic_batch) {
    b.batched_input("a", std::vector<int64_t>(c.a.begin() + 1, c.a.end()));
    b.batched_input("b", std::vector<int64_t>(c.b.begin() + 1, c.b.end()));
  } else {
    b.input("a", c.a).input("b", c.b);
  }
  b.node(OpKind::kEinsum, {"a", "b"}, {"y"}).attrs.set("equation", c.equation);
  b.output("y");
  return b.finish();
}

int count_op(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& x : g.nodes) n += x.op == op;
  return n;
}

TEST(LowerEinsum, ContractionsBecomeMatMul) {
  const std::vector<Case> cases = {
      {"bhid,bhjd->bhij", {2, 3, 5, 4}, {2, 3, 6, 4}},       // attention scores (K read transposed)
      {"bhij,bhjd->bhid", {2, 3, 5, 6}, {2, 3, 6, 4}},       // attention context
      {"bgnid,bgnjd->bgnij", {2, 2, 3, 5, 4}, {2, 2, 3, 7, 4}},  // MaxViT-style 5-D scores
      {"ij,jk->ik", {3, 4}, {4, 5}},
      {"ij,kj->ik", {3, 4}, {5, 4}},
      {"ji,jk->ki", {4, 3}, {4, 5}},                         // output transposed
      {"bchw,ck->bkhw", {2, 3, 4, 5}, {3, 6}},               // channel mixing: B has no batch labels
      {"bnd,dhk->bnhk", {2, 5, 6}, {6, 3, 4}},               // free labels merged by Reshape
      {"i,j->ij", {3}, {4}},                                 // outer product: nothing contracted
      {"bi,bi->b", {3, 5}, {3, 5}},                          // inner products: no free labels
      {"...id,...jd->...ij", {2, 3, 5, 4}, {2, 3, 6, 4}},    // ellipsis
      {"bij,bjk", {2, 3, 4}, {2, 4, 5}},                     // implicit output "bik"
      {"nctv,nkc->nktv", {2, 3, 4, 5}, {2, 6, 3}},
  };
  auto pass = make_lower_einsum_pass();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.equation);
    Graph g = run_and_compare(*pass, einsum_graph(c), true);
    EXPECT_EQ(count_op(g, OpKind::kEinsum), 0) << print_graph(g);
    EXPECT_EQ(count_op(g, OpKind::kMatMul), 1) << print_graph(g);
  }
}

TEST(LowerEinsum, DynamicBatchLabel) {
  auto pass = make_lower_einsum_pass();
  Graph g = run_and_compare(*pass, einsum_graph({"bhid,bhjd->bhij", {2, 3, 5, 4}, {2, 3, 6, 4}}, true), true);
  EXPECT_EQ(count_op(g, OpKind::kEinsum), 0);
  // Unknown sizes of free labels are fine where no Reshape merges them (n and m are both dynamic here).
  g = run_and_compare(*pass, einsum_graph({"nd,md->nm", {2, 4}, {2, 4}}, true), true);
  EXPECT_EQ(count_op(g, OpKind::kEinsum), 0);
  // A Reshape dim from a label of unknown size stays Einsum (d is a batch label: A would become [d, n, 1]).
  g = run_and_compare(*pass, einsum_graph({"nd,md->dnm", {2, 4}, {2, 4}}, true), false);
  EXPECT_EQ(count_op(g, OpKind::kEinsum), 1);
}

TEST(LowerEinsum, OtherFormsStay) {
  const std::vector<Case> cases = {
      {"bii,bij->bj", {2, 3, 3}, {2, 3, 4}},  // diagonal
      {"ij,jk->i", {3, 4}, {4, 5}},           // k summed in B alone
  };
  auto pass = make_lower_einsum_pass();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.equation);
    Graph g = run_and_compare(*pass, einsum_graph(c), false);
    EXPECT_EQ(count_op(g, OpKind::kEinsum), 1);
  }
}

// After the whole pipeline the transposed K of the scores product is read as transB: no copy remains.
TEST(LowerEinsum, ScoresReadKTransposedInPipeline) {
  Graph g = einsum_graph({"bhid,bhjd->bhij", {2, 3, 5, 4}, {2, 3, 6, 4}});
  Graph before = g;
  PassOptions o;
  o.opt_level = 2;
  o.verify_each_pass = true;
  ASSERT_TRUE(optimize_graph(g, o).ok());
  expect_same_outputs(before, g);
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].op, OpKind::kFusedMatMul);
  EXPECT_EQ(g.nodes[0].attrs.get_int("transB", 0), 1);
}

}  // namespace
