// fold_constants: constant subgraphs and shape queries of static values become initializers.
#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

TEST(FoldConstants, FoldsConstantArithmetic) {
  GraphBuilder b;
  b.input("x", {2, 3}).floats("a", {2, 3}, 1).floats("c", {2, 3}, 2);
  b.node(OpKind::kMul, {"a", "c"}, {"ac"});
  b.node(OpKind::kExp, {"ac"}, {"e"});
  b.node(OpKind::kAdd, {"x", "e"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_fold_constants_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 1u);
  ASSERT_EQ(g.initializers.count("e"), 1u);
  EXPECT_EQ(g.initializers.count("a"), 0u) << "inputs of folded nodes are dropped when unused";
  expect_same_outputs(before, g);
}

TEST(FoldConstants, ShapeSubgraphOfStaticInputBecomesReshapeTarget) {
  // y = Reshape(x, Concat(Shape(x)[0:1], [-1])): with a static x the target folds to a constant.
  GraphBuilder b;
  b.input("x", {2, 3, 4}).ints("starts", {0}).ints("ends", {1}).ints("minus1", {-1});
  b.node(OpKind::kShape, {"x"}, {"s"});
  b.node(OpKind::kSlice, {"s", "starts", "ends"}, {"s0"});
  b.node(OpKind::kConcat, {"s0", "minus1"}, {"target"}).attrs.set("axis", int64_t{0});
  b.node(OpKind::kReshape, {"x", "target"}, {"y"});
  b.node(OpKind::kSize, {"x"}, {"n"});
  b.output("y").output("n");
  Graph g = b.finish();
  Graph before = g;
  auto pass = make_fold_constants_pass();
  EXPECT_TRUE(run_pass_checked(*pass, g));
  EXPECT_EQ(count_ops(g, OpKind::kShape), 0);
  EXPECT_EQ(count_ops(g, OpKind::kConcat), 0);
  EXPECT_EQ(count_ops(g, OpKind::kSize), 1) << "a graph output stays computed";
  ASSERT_EQ(g.initializers.count("target"), 1u);
  const Tensor& t = g.initializers.at("target");
  ASSERT_EQ(t.numel(), 2);
  EXPECT_EQ(t.as_int64(0), 2);
  EXPECT_EQ(t.as_int64(1), -1);
  EXPECT_EQ(g.type_of("y")->to_string(), "float32[2,12]");
  expect_same_outputs(before, g);
}

TEST(FoldConstants, NegativeCases) {
  GraphBuilder b;
  b.batched_input("x", {3}).floats("a", {3});
  b.constant("big_shape", Tensor::from_vector<int64_t>(DType::kInt64, {2}, {8192, 4096}));  // 128 MiB of float
  b.constant("one", Tensor::scalar<float>(DType::kFloat32, 1.f));
  b.node(OpKind::kShape, {"x"}, {"s"});               // dynamic batch: not foldable
  b.node(OpKind::kRandomNormalLike, {"a"}, {"rnd"});  // nondeterministic
  b.node(OpKind::kConstantOfShape, {"big_shape"}, {"big"})
      .attrs.set("value", Tensor::scalar<float>(DType::kFloat32, 1.f));
  b.node(OpKind::kReduceSum, {"big"}, {"total"}).attrs.set("keepdims", int64_t{0});
  b.node(OpKind::kAdd, {"rnd", "total"}, {"y"});
  b.output("s").output("y");
  Graph g = b.finish();
  auto pass = make_fold_constants_pass();
  EXPECT_FALSE(run_pass_checked(*pass, g));
  EXPECT_EQ(g.nodes.size(), 5u);
}

}  // namespace
}  // namespace kiln_pass_test
