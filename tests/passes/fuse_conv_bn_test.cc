// Tests of fuse_conv_bn: BatchNormalization folded into the preceding Conv (with and without conv bias), and the
// cases it must leave alone (shared conv output, graph-output intermediate, runtime statistics).
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

Graph conv_bn(bool conv_bias, bool conv_out_is_output = false, bool runtime_scale = false) {
  GraphBuilder b;
  b.input("x", {2, 3, 6, 6}).floats("w", {4, 3, 3, 3}, 1).floats("cb", {4}, 2).floats("bias", {4}, 4);
  if (runtime_scale)
    b.input("scale", {4});
  else
    b.floats("scale", {4}, 3);
  b.floats("mean", {4}, 5).constant("var", GraphBuilder::random_tensor({4}, 6, 0.2f, 2.f));
  std::vector<std::string> cin{"x", "w"};
  if (conv_bias) cin.push_back("cb");
  b.node(OpKind::kConv, cin, {"c"}).attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node(OpKind::kBatchNormalization, {"c", "scale", "bias", "mean", "var"}, {"bn"}).attrs.set("epsilon", 1e-3f);
  b.node(OpKind::kRelu, {"bn"}, {"y"});
  b.output("y");
  if (conv_out_is_output) b.output("c");
  return b.finish();
}

TEST(FuseConvBn, FoldsIntoConvWithBias) {
  auto pass = make_fuse_conv_bn_pass();
  Graph after = run_and_compare(*pass, conv_bn(true), true);
  EXPECT_EQ(count_ops(after, OpKind::kBatchNormalization), 0);
  EXPECT_EQ(count_ops(after, OpKind::kConv), 1);
  EXPECT_EQ(after.nodes.size(), 2u);
}

TEST(FuseConvBn, FoldsIntoConvWithoutBias) {
  auto pass = make_fuse_conv_bn_pass();
  Graph after = run_and_compare(*pass, conv_bn(false), true);
  EXPECT_EQ(count_ops(after, OpKind::kBatchNormalization), 0);
  ASSERT_EQ(after.nodes[0].inputs.size(), 3u);  // a bias was created
}

TEST(FuseConvBn, LeavesSharedOrRuntimeCasesAlone) {
  auto pass = make_fuse_conv_bn_pass();
  run_and_compare(*pass, conv_bn(true, /*conv_out_is_output=*/true), false);
  run_and_compare(*pass, conv_bn(true, false, /*runtime_scale=*/true), false);
}

}  // namespace
