// Kernel tests for the nn family's convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv, Col2Im.
#include "nn_test_util.h"

namespace {

using namespace nn_test;  // NOLINT

TEST(NnConv, Conv2dPaddingStrideBias) {
  // 1x1x3x3 input 0..8, 1x1x2x2 kernel of ones, pads 1, stride 2: windows clipped at the borders.
  kiln::Attrs a;
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  a.set("strides", std::vector<int64_t>{2, 2});
  auto r = run(OpKind::kConv, {iota({1, 1, 3, 3}), f32({1, 1, 2, 2}, {1, 1, 1, 1}), f32({1}, {10})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 2, 2}, {10 + 0, 10 + 1 + 2, 10 + 3 + 6, 10 + 4 + 5 + 7 + 8});
}

TEST(NnConv, Conv1dGroupsDilationSameUpper) {
  // 2 channels, 2 groups, kernel 2 dilated by 2, SAME_UPPER keeps length 4.
  kiln::Attrs a;
  a.set("group", int64_t{2});
  a.set("dilations", std::vector<int64_t>{2});
  a.set("auto_pad", std::string("SAME_UPPER"));
  auto r = run(OpKind::kConv, {iota({1, 2, 4}), f32({2, 1, 2}, {1, 1, 1, -1})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // total pad = 2 -> 1 each side. channel0: x[i-1]+x[i+1]; channel1: x[i-1]-x[i+1] on 4..7.
  expect_near(r.out(), {1, 2, 4}, {1, 2, 4, 2, -5, -2, -2, 6});
}

TEST(NnConv, ConvRejectsChannelMismatch) {
  auto r = run(OpKind::kConv, {iota({1, 3, 4, 4}), f32({1, 2, 1, 1}, {1, 1})});
  EXPECT_FALSE(r.status.ok());
  auto bad_pads = run(OpKind::kConv, {iota({1, 1, 4}), f32({1, 1, 1}, {1})}, [] {
    kiln::Attrs a;
    a.set("pads", std::vector<int64_t>{1});
    return a;
  }());
  EXPECT_FALSE(bad_pads.status.ok());
}

TEST(NnConv, ConvTransposeStridesOutputShape) {
  // 1-D: x = [1, 2], w = [1, 1, 1], stride 2 -> length 5 scatter.
  kiln::Attrs a;
  a.set("strides", std::vector<int64_t>{2});
  auto r = run(OpKind::kConvTranspose, {f32({1, 1, 2}, {1, 2}), f32({1, 1, 3}, {1, 1, 1})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 5}, {1, 1, 3, 2, 2});
  a.set("output_shape", std::vector<int64_t>{6});
  auto s = run(OpKind::kConvTranspose, {f32({1, 1, 2}, {1, 2}), f32({1, 1, 3}, {1, 1, 1})}, a);
  ASSERT_TRUE(s.status.ok()) << s.status.message();
  // total padding 5+0-6 < 0 -> clamp: full result then an extra zero.
  expect_near(s.out(), {1, 1, 6}, {1, 1, 3, 2, 2, 0});
  auto bad = run(OpKind::kConvTranspose, {f32({1, 2, 2}, {1, 2, 3, 4}), f32({1, 1, 3}, {1, 1, 1})});
  EXPECT_FALSE(bad.status.ok());
}

TEST(NnConv, ConvIntegerAndQLinear) {
  Tensor x = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 1, 2, 2}, {2, 3, 4, 5});
  Tensor w = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 1, 1, 1}, {3});
  Tensor xzp = Tensor::scalar<uint8_t>(DType::kUInt8, 1);
  auto r = run(OpKind::kConvInteger, {x, w, xzp});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.out().dtype(), DType::kInt32);
  expect_near(r.out(), {1, 1, 2, 2}, {3, 6, 9, 12});
  Tensor s = f32({}, {0.5f});
  Tensor yzp = Tensor::scalar<uint8_t>(DType::kUInt8, 10);
  auto q = run(OpKind::kQLinearConv, {x, s, xzp, w, f32({}, {1.f}), Tensor::scalar<uint8_t>(DType::kUInt8, 0), f32({}, {1.f}), yzp});
  ASSERT_TRUE(q.status.ok()) << q.status.message();
  // acc * 0.5 rounded half to even, + 10: 1.5->2, 3, 4.5->4, 6.
  expect_near(q.out(), {1, 1, 2, 2}, {12, 13, 14, 16});
  auto bad = run(OpKind::kConvInteger, {f32({1, 1, 2, 2}, {1, 2, 3, 4}), w});
  EXPECT_FALSE(bad.status.ok());
}

TEST(NnConv, DeformConvZeroOffsetIsConv) {
  kiln::Attrs a;
  Tensor x = iota({1, 1, 3, 3}), w = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor off(DType::kFloat32, {1, 8, 2, 2});
  auto d = run(OpKind::kDeformConv, {x, w, off}, a);
  auto c = run(OpKind::kConv, {x, w}, a);
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  expect_near(d.out(), {1, 1, 2, 2}, values(c.out()));
  // Offset 0.5 along width on every tap: the average of neighbours.
  for (int64_t i = 0; i < off.numel(); ++i) off.data<float>()[i] = (i / 4) % 2 == 1 ? 0.5f : 0.f;
  auto h = run(OpKind::kDeformConv, {x, f32({1, 1, 1, 1}, {1}), Tensor(DType::kFloat32, {1, 2, 3, 3})}, a);
  ASSERT_TRUE(h.status.ok());
  auto bad = run(OpKind::kDeformConv, {x, w, Tensor(DType::kFloat32, {1, 4, 2, 2})}, a);
  EXPECT_FALSE(bad.status.ok());
}

TEST(NnConv, Col2ImSumsOverlaps) {
  // image 1x3, block 1x2, stride 1: two blocks overlap at the middle pixel.
  auto r = run(OpKind::kCol2Im, {f32({1, 2, 2}, {1, 2, 10, 20}), i64({2}, {1, 3}), i64({2}, {1, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  expect_near(r.out(), {1, 1, 1, 3}, {1, 12, 20});
  auto bad = run(OpKind::kCol2Im, {f32({1, 2, 3}, {1, 2, 3, 4, 5, 6}), i64({2}, {1, 3}), i64({2}, {1, 2})});
  EXPECT_FALSE(bad.status.ok());
}

}  // namespace
