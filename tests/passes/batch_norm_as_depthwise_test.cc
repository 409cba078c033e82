// Tests of batch_norm_as_depthwise: a BatchNormalization no conv absorbed (after a Concat: DenseNet's pre-activation
// block) becomes a 1x1 depthwise Conv with the same outputs, whose ReLU fuse_conv_activation then takes; runtime
// statistics, other ranks and training mode stay BatchNormalization.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

// Concat(a, b) -> BatchNormalization -> Relu -> y (or 3-D inputs, or a runtime scale).
Graph concat_bn_relu(bool rank3 = false, bool runtime_scale = false) {
  GraphBuilder b;
  const std::vector<int64_t> da = rank3 ? std::vector<int64_t>{2, 3, 7} : std::vector<int64_t>{2, 3, 5, 6};
  const std::vector<int64_t> db = rank3 ? std::vector<int64_t>{2, 5, 7} : std::vector<int64_t>{2, 5, 5, 6};
  b.input("a", da).input("b", db).floats("bias", {8}, 4).floats("mean", {8}, 5);
  if (runtime_scale)
    b.input("scale", {8});
  else
    b.floats("scale", {8}, 3);
  b.constant("var", GraphBuilder::random_tensor({8}, 6, 0.2f, 2.f));
  b.node(OpKind::kConcat, {"a", "b"}, {"cat"}).attrs.set("axis", int64_t{1});
  b.node(OpKind::kBatchNormalization, {"cat", "scale", "bias", "mean", "var"}, {"bn"}).attrs.set("epsilon", 1e-3f);
  b.node(OpKind::kRelu, {"bn"}, {"y"});
  b.output("y");
  return b.finish();
}

TEST(BatchNormAsDepthwise, BecomesDepthwiseConvThenTakesTheRelu) {
  auto pass = make_batch_norm_as_depthwise_pass();
  Graph after = run_and_compare(*pass, concat_bn_relu(), true);
  EXPECT_EQ(count_ops(after, OpKind::kBatchNormalization), 0);
  ASSERT_EQ(count_ops(after, OpKind::kConv), 1);
  for (const Node& n : after.nodes)
    if (n.op == OpKind::kConv) {
      EXPECT_EQ(n.attrs.get_int("group"), 8);
      EXPECT_EQ(n.attrs.get_ints("kernel_shape"), (std::vector<int64_t>{1, 1}));
    }
  auto act = make_fuse_conv_activation_pass();
  Graph fused = run_and_compare(*act, after, true);
  EXPECT_EQ(count_ops(fused, OpKind::kRelu), 0);
  ASSERT_EQ(count_ops(fused, OpKind::kFusedConv), 1);
  for (const Node& n : fused.nodes)
    if (n.op == OpKind::kFusedConv) EXPECT_EQ(n.attrs.get_string("activation"), "Relu");
}

TEST(BatchNormAsDepthwise, LeavesOtherRanksAndRuntimeStatisticsAlone) {
  auto pass = make_batch_norm_as_depthwise_pass();
  run_and_compare(*pass, concat_bn_relu(/*rank3=*/true), false);
  run_and_compare(*pass, concat_bn_relu(false, /*runtime_scale=*/true), false);
}

}  // namespace
