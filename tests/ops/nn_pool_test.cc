// Kernel tests for the nn family's pooling and region ops: Average/Max/Lp/Global pools, MaxUnpool, RoiAlign,
// MaxRoiPool and NonMaxSuppression.
#include "nn_test_util.h"

namespace {

using namespace nn_test;  // NOLINT

kiln::Attrs pool_attrs(Dims kernel, Dims strides = {}, Dims pads = {}) {
  kiln::Attrs a;
  a.set("kernel_shape", kernel);
  if (!strides.empty()) a.set("strides", strides);
  if (!pads.empty()) a.set("pads", pads);
  return a;
}

TEST(NnPool, AveragePoolCountIncludePad) {
  kiln::Attrs a = pool_attrs({2}, {2}, {1, 1});
  auto r = run(OpKind::kAveragePool, {f32({1, 1, 3}, {2, 4, 6})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 2}, {2, 5});
  a.set("count_include_pad", int64_t{1});
  auto c = run(OpKind::kAveragePool, {f32({1, 1, 3}, {2, 4, 6})}, a);
  expect_near(c.out(), {1, 1, 2}, {1, 5});
}

TEST(NnPool, MaxPoolIndicesCeilMode) {
  kiln::Attrs a = pool_attrs({2, 2}, {2, 2});
  a.set("ceil_mode", int64_t{1});
  auto r = run(OpKind::kMaxPool, {iota({1, 1, 3, 3})}, a, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(0), {1, 1, 2, 2}, {4, 5, 7, 8});
  expect_near(r.out(1), {1, 1, 2, 2}, {4, 5, 7, 8});
  a.set("storage_order", int64_t{1});
  auto col = run(OpKind::kMaxPool, {iota({1, 1, 3, 3})}, a, 2);
  expect_near(col.out(1), {1, 1, 2, 2}, {4, 7, 5, 8});
  auto u8 = run(OpKind::kMaxPool, {Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 1, 2}, {7, 200})}, pool_attrs({2}));
  ASSERT_TRUE(u8.status.ok());
  EXPECT_EQ(u8.out().dtype(), DType::kUInt8);
  expect_near(u8.out(), {1, 1, 1}, {200});
}

TEST(NnPool, LpPoolAndGlobals) {
  kiln::Attrs a = pool_attrs({2});
  a.set("p", int64_t{2});
  auto r = run(OpKind::kLpPool, {f32({1, 1, 3}, {3, 4, 0})}, a);
  expect_near(r.out(), {1, 1, 2}, {5, 4});
  auto g = run(OpKind::kGlobalAveragePool, {iota({2, 1, 2, 2})});
  expect_near(g.out(), {2, 1, 1, 1}, {1.5, 5.5});
  auto m = run(OpKind::kGlobalMaxPool, {iota({1, 2, 3})});
  expect_near(m.out(), {1, 2, 1}, {2, 5});
  auto l = run(OpKind::kGlobalLpPool, {f32({1, 1, 2}, {3, 4})});
  expect_near(l.out(), {1, 1, 1}, {5});
}

TEST(NnPool, PoolRejectsBadInput) {
  EXPECT_FALSE(run(OpKind::kMaxPool, {iota({1, 1, 3})}, pool_attrs({2, 2})).status.ok());
  EXPECT_FALSE(run(OpKind::kAveragePool, {iota({1, 1, 3})}, pool_attrs({5})).status.ok());
  EXPECT_FALSE(run(OpKind::kAveragePool, {iota({3})}, pool_attrs({1})).status.ok());
  EXPECT_FALSE(run(OpKind::kGlobalAveragePool, {iota({3})}).status.ok());
}

TEST(NnPool, MaxUnpoolScatters) {
  auto r = run(OpKind::kMaxUnpool, {f32({1, 1, 1, 2}, {5, 6}), i64({1, 1, 1, 2}, {1, 3})}, pool_attrs({2, 2}, {2, 2}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 2, 4}, {0, 5, 0, 6, 0, 0, 0, 0});
  auto bad = run(OpKind::kMaxUnpool, {f32({1, 1, 1, 2}, {5, 6}), i64({1, 1, 1, 2}, {1, 99})}, pool_attrs({2, 2}, {2, 2}));
  EXPECT_FALSE(bad.status.ok());
}

TEST(NnPool, RoiAlignAndMaxRoiPool) {
  kiln::Attrs a;
  a.set("output_height", int64_t{1});
  a.set("output_width", int64_t{1});
  a.set("sampling_ratio", int64_t{1});
  a.set("coordinate_transformation_mode", std::string("output_half_pixel"));
  // One sample at the centre (1, 1) of box [0,0,2,2] on a 3x3 ramp.
  auto r = run(OpKind::kRoiAlign, {iota({1, 1, 3, 3}), f32({1, 4}, {0, 0, 2, 2}), i64({1}, {0})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 1, 1}, {4});
  auto bad = run(OpKind::kRoiAlign, {iota({1, 1, 3, 3}), f32({1, 4}, {0, 0, 2, 2}), i64({1}, {3})}, a);
  EXPECT_FALSE(bad.status.ok());
  kiln::Attrs m;
  m.set("pooled_shape", std::vector<int64_t>{1, 2});
  auto p = run(OpKind::kMaxRoiPool, {iota({1, 1, 3, 3}), f32({1, 5}, {0, 0, 0, 1, 1})}, m);
  ASSERT_TRUE(p.status.ok()) << p.status.message();
  expect_near(p.out(), {1, 1, 1, 2}, {3, 4});
}

TEST(NnPool, NonMaxSuppression) {
  // Boxes 0 and 1 overlap heavily; box 2 is apart. Scores favour box 1.
  Tensor boxes = f32({1, 3, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 5, 1, 6});
  Tensor scores = f32({1, 1, 3}, {0.8f, 0.9f, 0.3f});
  auto r = run(OpKind::kNonMaxSuppression, {boxes, scores, i64({1}, {3}), f32({1}, {0.5f}), f32({1}, {0.0f})});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {2, 3}, {0, 0, 1, 0, 0, 2});
  auto lim = run(OpKind::kNonMaxSuppression, {boxes, scores, i64({1}, {1}), f32({1}, {0.5f})});
  expect_near(lim.out(), {1, 3}, {0, 0, 1});
  EXPECT_FALSE(run(OpKind::kNonMaxSuppression, {f32({1, 3}, {0, 0, 1}), scores}).status.ok());
}

}  // namespace
