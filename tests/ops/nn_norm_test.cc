// Kernel tests for the nn family's normalizations: Batch/Instance/Layer/Group/RMS norms, LRN, LpNormalization, MVN.
#include <cmath>

#include "nn_test_util.h"

namespace {

using namespace nn_test;  // NOLINT

TEST(NnNorm, BatchNormInferenceAndTraining) {
  Tensor x = f32({2, 1, 2}, {1, 3, 5, 7});
  Tensor one = f32({1}, {1}), zero = f32({1}, {0});
  kiln::Attrs a;
  a.set("epsilon", 0.0f);
  auto r = run(OpKind::kBatchNormalization, {x, f32({1}, {2}), f32({1}, {1}), f32({1}, {4}), f32({1}, {4})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {2, 1, 2}, {-2, 0, 2, 4});
  a.set("training_mode", int64_t{1});
  a.set("momentum", 0.5f);
  auto t = run(OpKind::kBatchNormalization, {x, one, zero, zero, one}, a, 3);
  ASSERT_TRUE(t.status.ok()) << t.status.message();
  const double sd = std::sqrt(5.0);
  expect_near(t.out(0), {2, 1, 2}, {-3 / sd, -1 / sd, 1 / sd, 3 / sd});
  expect_near(t.out(1), {1}, {2});    // 0*0.5 + 4*0.5
  expect_near(t.out(2), {1}, {3});    // 1*0.5 + 5*0.5
  EXPECT_FALSE(run(OpKind::kBatchNormalization, {x, f32({2}, {1, 1}), zero, zero, one}).status.ok());
}

TEST(NnNorm, LayerNormNegativeAxisAndStats) {
  kiln::Attrs a;
  a.set("axis", int64_t{-1});
  a.set("epsilon", 0.0f);
  auto r = run(OpKind::kLayerNormalization, {f32({2, 2}, {1, 3, 2, 2}), f32({2}, {1, 2}), f32({1}, {1})}, a, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // Row 1 has zero variance: 0 * inf is avoided only with eps>0, so use row 0 values and check stats.
  EXPECT_NEAR(r.out(0).as_double(0), 0.0, 1e-6);
  EXPECT_NEAR(r.out(0).as_double(1), 3.0, 1e-6);
  expect_near(r.out(1), {2, 1}, {2, 2});
  EXPECT_EQ(r.out(2).dtype(), DType::kFloat32);
  EXPECT_NEAR(r.out(2).as_double(0), 1.0, 1e-6);
  kiln::Attrs bad;
  bad.set("axis", int64_t{2});
  EXPECT_FALSE(run(OpKind::kLayerNormalization, {f32({2, 2}, {1, 3, 2, 2}), f32({2}, {1, 2})}, bad).status.ok());
  EXPECT_FALSE(run(OpKind::kLayerNormalization, {f32({2, 2}, {1, 3, 2, 2}), f32({3}, {1, 2, 3})}).status.ok());
}

TEST(NnNorm, RmsInstanceGroup) {
  kiln::Attrs a;
  a.set("epsilon", 0.0f);
  auto rms = run(OpKind::kRMSNormalization, {f32({1, 2}, {3, 4}), f32({2}, {1, 1})}, a);
  ASSERT_TRUE(rms.status.ok()) << rms.status.message();
  const double q = std::sqrt(12.5);
  expect_near(rms.out(), {1, 2}, {3 / q, 4 / q});
  auto in = run(OpKind::kInstanceNormalization, {f32({1, 1, 2}, {1, 3}), f32({1}, {2}), f32({1}, {1})}, a);
  expect_near(in.out(), {1, 1, 2}, {-1, 3});
  kiln::Attrs g;
  g.set("num_groups", int64_t{1});
  g.set("epsilon", 0.0f);
  // Opset 21: per-channel scale/bias over one group of both channels.
  auto gn = run(OpKind::kGroupNormalization, {f32({1, 2, 1}, {1, 3}), f32({2}, {1, 2}), f32({2}, {0, 1})}, g, 1, 21);
  ASSERT_TRUE(gn.status.ok()) << gn.status.message();
  expect_near(gn.out(), {1, 2, 1}, {-1, 3});
  g.set("num_groups", int64_t{3});
  EXPECT_FALSE(run(OpKind::kGroupNormalization, {f32({1, 2, 1}, {1, 3}), f32({2}, {1, 2}), f32({2}, {0, 1})}, g).status.ok());
}

TEST(NnNorm, LrnLpMvn) {
  kiln::Attrs a;
  a.set("size", int64_t{3});
  a.set("alpha", 3.0f);
  a.set("beta", 1.0f);
  a.set("bias", 1.0f);
  auto l = run(OpKind::kLRN, {f32({1, 2, 1}, {1, 2})}, a);
  ASSERT_TRUE(l.status.ok()) << l.status.message();
  expect_near(l.out(), {1, 2, 1}, {1.0 / 6, 2.0 / 6});
  EXPECT_FALSE(run(OpKind::kLRN, {f32({1, 2, 1}, {1, 2})}).status.ok());
  kiln::Attrs p;
  p.set("axis", int64_t{0});
  p.set("p", int64_t{1});
  auto lp = run(OpKind::kLpNormalization, {f32({2, 1}, {1, -3})}, p);
  expect_near(lp.out(), {2, 1}, {0.25, -0.75});
  p.set("p", int64_t{3});
  EXPECT_FALSE(run(OpKind::kLpNormalization, {f32({2, 1}, {1, -3})}, p).status.ok());
  kiln::Attrs m;
  m.set("axes", std::vector<int64_t>{-1});
  auto mvn = run(OpKind::kMeanVarianceNormalization, {f32({1, 2}, {1, 3})}, m);
  expect_near(mvn.out(), {1, 2}, {-1, 1}, 1e-6);
}

}  // namespace
