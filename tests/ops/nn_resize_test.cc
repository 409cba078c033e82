// Kernel tests for the nn family's resampling ops: Resize (modes, axes, policies), GridSample, AffineGrid.
#include "nn_test_util.h"

namespace {

using namespace nn_test;  // NOLINT

kiln::Attrs mode(const std::string& m, const std::string& ctm) {
  kiln::Attrs a;
  a.set("mode", m);
  a.set("coordinate_transformation_mode", ctm);
  return a;
}

TEST(NnResize, NearestUpsampleScales) {
  auto r = run(OpKind::kResize, {iota({1, 2}), Tensor(), f32({2}, {1, 2})}, mode("nearest", "asymmetric"));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 4}, {0, 0, 1, 1});
}

TEST(NnResize, LinearAlignCornersSizesAndAxes) {
  kiln::Attrs a = mode("linear", "align_corners");
  a.set("axes", std::vector<int64_t>{-1});
  auto r = run(OpKind::kResize, {f32({1, 2}, {0, 3}), Tensor(), Tensor(), i64({1}, {4})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 4}, {0, 1, 2, 3});
  // half_pixel downsample by 2: each output is the mean of a pair.
  auto h = run(OpKind::kResize, {f32({4}, {0, 2, 4, 6}), Tensor(), f32({1}, {0.5f})}, mode("linear", "half_pixel"));
  expect_near(h.out(), {2}, {1, 5});
}

TEST(NnResize, CubicAndPolicyAndErrors) {
  // Cubic at integer source coordinates reproduces the input.
  auto c = run(OpKind::kResize, {f32({3}, {1, 5, 2}), Tensor(), f32({1}, {1.0f})}, mode("cubic", "asymmetric"));
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  expect_near(c.out(), {3}, {1, 5, 2});
  kiln::Attrs p = mode("nearest", "half_pixel");
  p.set("keep_aspect_ratio_policy", std::string("not_smaller"));
  auto k = run(OpKind::kResize, {iota({2, 4}), Tensor(), Tensor(), i64({2}, {4, 4})}, p);
  ASSERT_TRUE(k.status.ok()) << k.status.message();
  EXPECT_EQ(k.out().dims(), (Dims{4, 8}));
  EXPECT_FALSE(run(OpKind::kResize, {iota({2, 4}), Tensor(), f32({1}, {2})}, mode("nearest", "half_pixel")).status.ok());
  EXPECT_FALSE(run(OpKind::kResize, {iota({2}), Tensor(), f32({1}, {2})}, mode("area", "half_pixel")).status.ok());
  // tf_crop_and_resize extrapolates outside the roi.
  kiln::Attrs t = mode("linear", "tf_crop_and_resize");
  t.set("extrapolation_value", 9.0f);
  auto e = run(OpKind::kResize, {f32({2}, {0, 1}), f32({2}, {0, 2}), Tensor(), i64({1}, {3})}, t);
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  expect_near(e.out(), {3}, {0, 1, 9});
}

TEST(NnResize, GridSampleModes) {
  Tensor x = f32({1, 1, 2, 2}, {0, 1, 2, 3});
  // grid (x, y): centre of the image and the top-left corner with align_corners.
  Tensor grid = f32({1, 1, 2, 2}, {0, 0, -1, -1});
  kiln::Attrs a;
  a.set("align_corners", int64_t{1});
  auto r = run(OpKind::kGridSample, {x, grid}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 1, 2}, {1.5, 0});
  a.set("mode", std::string("nearest"));
  auto n = run(OpKind::kGridSample, {x, f32({1, 1, 1, 2}, {1, 1})}, a);
  expect_near(n.out(), {1, 1, 1, 1}, {3});
  kiln::Attrs z;
  z.set("padding_mode", std::string("zeros"));
  auto o = run(OpKind::kGridSample, {x, f32({1, 1, 1, 2}, {5, 5})}, z);
  expect_near(o.out(), {1, 1, 1, 1}, {0});
  EXPECT_FALSE(run(OpKind::kGridSample, {x, f32({1, 1, 1, 3}, {0, 0, 0})}).status.ok());
}

TEST(NnResize, AffineGridIdentity) {
  kiln::Attrs a;
  a.set("align_corners", int64_t{1});
  auto r = run(OpKind::kAffineGrid, {f32({1, 2, 3}, {1, 0, 0, 0, 1, 0}), i64({4}, {1, 1, 2, 2})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 2, 2, 2}, {-1, -1, 1, -1, -1, 1, 1, 1});
  EXPECT_FALSE(run(OpKind::kAffineGrid, {f32({1, 2, 3}, {1, 0, 0, 0, 1, 0}), i64({3}, {1, 1, 2})}).status.ok());
}

}  // namespace
