// fuse_add_layer_norm: Add -> LayerNormalization becomes one FusedAddLayerNorm (full-shape and suffix addends,
// x + c1 + c2 with constants folded into one addend); negative cases; outputs equal before and after.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

// LayerNormalization(axis=-1) of `in` with random Scale/B of `cols` values.
void layer_norm(GraphBuilder& b, const std::string& in, const std::string& out, int64_t cols) {
  b.floats(out + "_scale", {cols}, 11).floats(out + "_bias", {cols}, 12);
  Node& n = b.node(OpKind::kLayerNormalization, {in, out + "_scale", out + "_bias"}, {out});
  n.attrs.set("axis", int64_t{-1});
  n.attrs.set("epsilon", 1e-5f);
}

Graph fold_and_run(Graph g, bool expect_change) {
  auto pass = make_fuse_add_layer_norm_pass();
  EXPECT_EQ(run_pass_checked(*pass, g), expect_change);
  auto fold = make_fold_constants_pass();
  run_pass_checked(*fold, g);
  return g;
}

TEST(FuseAddLayerNorm, FullShapeResidual) {
  GraphBuilder b;
  b.input("x", {2, 5, 16}).input("r", {2, 5, 16});
  b.node(OpKind::kAdd, {"x", "r"}, {"s"});
  layer_norm(b, "s", "y", 16);
  b.output("y");
  Graph g = b.finish();
  Graph after = fold_and_run(g, true);
  EXPECT_EQ(count_ops(after, OpKind::kFusedAddLayerNorm), 1) << print_graph(after);
  EXPECT_EQ(count_ops(after, OpKind::kAdd), 0);
  EXPECT_EQ(count_ops(after, OpKind::kLayerNormalization), 0);
  expect_same_outputs(g, after, 1e-4);
}

// BERT's embeddings: token rows + token-type rows (constant) + position rows (constant [1, S, C]).
TEST(FuseAddLayerNorm, EmbeddingSumWithTwoConstantSuffixes) {
  GraphBuilder b;
  b.input("tok", {3, 4, 8});
  b.floats("type_rows", {1, 4, 8}, 5).floats("pos_rows", {4, 8}, 6);
  b.node(OpKind::kAdd, {"tok", "type_rows"}, {"s1"});
  b.node(OpKind::kAdd, {"s1", "pos_rows"}, {"s2"});
  layer_norm(b, "s2", "y", 8);
  b.output("y");
  Graph g = b.finish();
  Graph after = fold_and_run(g, true);
  EXPECT_EQ(count_ops(after, OpKind::kFusedAddLayerNorm), 1) << print_graph(after);
  EXPECT_EQ(count_ops(after, OpKind::kAdd), 0) << print_graph(after);  // c1 + c2 folded at build time
  expect_same_outputs(g, after, 1e-4);
}

TEST(FuseAddLayerNorm, LeavesSharedSumsAndOtherAxesAlone) {
  GraphBuilder b;
  b.input("x", {2, 6}).input("r", {2, 6}).input("z", {3, 2, 6});
  b.node(OpKind::kAdd, {"x", "r"}, {"s"});
  layer_norm(b, "s", "y", 6);
  b.node(OpKind::kNeg, {"s"}, {"n"});  // the sum is read twice: it must stay
  b.floats("w", {2, 6}, 3);
  b.node(OpKind::kAdd, {"w", "z"}, {"t"});  // R would be the larger operand: not a suffix of the sum
  b.floats("sc", {2, 6}, 4).floats("bi", {2, 6}, 5);
  Node& n = b.node(OpKind::kLayerNormalization, {"t", "sc", "bi"}, {"u"});
  n.attrs.set("axis", int64_t{1});  // normalizes [2, 6]: not the last axis alone
  b.output("y").output("n").output("u");
  Graph g = b.finish();
  auto pass = make_fuse_add_layer_norm_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kFusedAddLayerNorm), 0);
}

}  // namespace
}  // namespace kiln_pass_test
