// The normalizations' typed parameters parsed once (src/ir/norm_params.h) for shape inference, passes and every
// backend: defaults, GroupNormalization's opset rule and every error.
#include "ir/norm_params.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

Node group_norm(int opset, int64_t groups) {
  Node n;
  n.op = OpKind::kGroupNormalization;
  n.opset = opset;
  if (groups != 0) n.attrs.set("num_groups", groups);
  return n;
}

TEST(NormParams, Defaults) {
  auto bn = batch_norm_params(Attrs{});
  ASSERT_TRUE(bn.ok());
  EXPECT_FLOAT_EQ(bn->epsilon, 1e-5f);
  EXPECT_FLOAT_EQ(bn->momentum, 0.9f);
  EXPECT_FALSE(bn->training_mode);
  auto in = instance_norm_params(Attrs{});
  ASSERT_TRUE(in.ok());
  EXPECT_FLOAT_EQ(in->epsilon, 1e-5f);
  auto ln = layer_norm_params(Attrs{});
  ASSERT_TRUE(ln.ok());
  EXPECT_EQ(ln->axis, -1);
  EXPECT_FLOAT_EQ(ln->epsilon, 1e-5f);
  EXPECT_EQ(ln->stash_type, DType::kFloat32);
  auto gn = group_norm_params(group_norm(21, 2));
  ASSERT_TRUE(gn.ok()) << gn.status().message();
  EXPECT_EQ(gn->num_groups, 2);
  EXPECT_FLOAT_EQ(gn->epsilon, 1e-5f);
  EXPECT_EQ(gn->stash_type, DType::kFloat32);
}

TEST(NormParams, ReadsAttributes) {
  Attrs a;
  a.set("epsilon", 1e-3f);
  a.set("momentum", 0.5f);
  a.set("training_mode", int64_t{1});
  auto bn = batch_norm_params(a);
  ASSERT_TRUE(bn.ok());
  EXPECT_FLOAT_EQ(bn->epsilon, 1e-3f);
  EXPECT_FLOAT_EQ(bn->momentum, 0.5f);
  EXPECT_TRUE(bn->training_mode);
  Attrs l;
  l.set("axis", int64_t{1});
  l.set("epsilon", 1e-6f);
  l.set("stash_type", int64_t{16});  // bfloat16
  auto ln = layer_norm_params(l);
  ASSERT_TRUE(ln.ok()) << ln.status().message();
  EXPECT_EQ(ln->stash_type, DType::kBFloat16);
  EXPECT_FLOAT_EQ(ln->epsilon, 1e-6f);
  auto axis = layer_norm_axis(*ln, 3);
  ASSERT_TRUE(axis.ok());
  EXPECT_EQ(*axis, 1);
  ln->axis = -3;
  EXPECT_EQ(*layer_norm_axis(*ln, 3), 0);
}

TEST(NormParams, GroupNormScalePerChannelFromOpset21) {
  auto g18 = group_norm_params(group_norm(18, 2));
  ASSERT_TRUE(g18.ok());
  EXPECT_FALSE(g18->per_channel(6, 2));  // one value per group
  EXPECT_TRUE(g18->per_channel(6, 6));   // already per channel
  auto g21 = group_norm_params(group_norm(21, 2));
  ASSERT_TRUE(g21.ok());
  EXPECT_TRUE(g21->per_channel(6, 2));
  EXPECT_TRUE(check_group_norm_channels(*g21, 6).ok());
  Status s = check_group_norm_channels(*g21, 5);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_groups 2 must divide the channel count 5"), std::string::npos);
}

TEST(NormParams, ErrorsNameTheAttribute) {
  Attrs t;
  t.set("training_mode", int64_t{2});
  auto bn = batch_norm_params(t);
  ASSERT_FALSE(bn.ok());
  EXPECT_NE(bn.status().message().find("training_mode must be 0 or 1; got 2"), std::string::npos);

  Attrs st;
  st.set("stash_type", int64_t{7});  // int64
  auto ln = layer_norm_params(st);
  ASSERT_FALSE(ln.ok());
  EXPECT_NE(ln.status().message().find("stash_type 7 is not a floating-point type"), std::string::npos);
  st.set("stash_type", int64_t{999});
  EXPECT_FALSE(layer_norm_params(st).ok());

  LayerNormParams p;
  p.axis = 3;
  auto axis = layer_norm_axis(p, 3);
  ASSERT_FALSE(axis.ok());
  EXPECT_NE(axis.status().message().find("axis 3 is out of range for rank 3"), std::string::npos);
  p.axis = -4;
  EXPECT_FALSE(layer_norm_axis(p, 3).ok());

  auto missing = group_norm_params(group_norm(21, 0));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("num_groups is required"), std::string::npos);
  auto negative = group_norm_params(group_norm(21, -2));
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("num_groups must be positive; got -2"), std::string::npos);
  Node bad_stash = group_norm(21, 2);
  bad_stash.attrs.set("stash_type", int64_t{6});
  auto gs = group_norm_params(bad_stash);
  ASSERT_FALSE(gs.ok());
  EXPECT_NE(gs.status().message().find("stash_type 6"), std::string::npos);
}

}  // namespace
}  // namespace kiln
