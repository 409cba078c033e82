// Tests of QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear reference kernels.
#include "core/float_formats.h"
#include "elementwise_binary_test_util.h"

namespace {

using namespace kiln_ewb_test;  // NOLINT

TEST(ElementwiseBinaryQuant, QuantizePerTensorRoundsHalfToEven) {
  auto r = run_op(OpKind::kQuantizeLinear, {f32({6}, {0, 2, 3, 5, -1000, 1000}), f32({}, {2}), u8({}, {128})});
  EWB_EXPECT(r, DType::kUInt8, Dims({6}), {128, 129, 130, 130, 0, 255});
  // No zero point: uint8 with zero point 0.
  EWB_EXPECT(run_op(OpKind::kQuantizeLinear, {f32({2}, {-3, 3}), f32({1}, {1})}), DType::kUInt8, Dims({2}), {0, 3});
  // output_dtype without a zero point.
  auto r8 = run_op(OpKind::kQuantizeLinear, {f32({2}, {-300, 3}), f32({}, {1})}, attrs({{"output_dtype", int64_t{3}}}));
  EWB_EXPECT(r8, DType::kInt8, Dims({2}), {-128, 3});
}

TEST(ElementwiseBinaryQuant, QuantizePerAxisNegativeAxis) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r =
      run_op(OpKind::kQuantizeLinear, {x, f32({3}, {1, 2, 4}), i8({3}, {0, 1, -1})}, attrs({{"axis", int64_t{-1}}}));
  EWB_EXPECT(r, DType::kInt8, Dims({2, 3}), {1, 2, 0, 4, 3, 1});
  EWB_EXPECT_FAILS(
      run_op(OpKind::kQuantizeLinear, {x, f32({2}, {1, 2}), i8({2}, {0, 0})}, attrs({{"axis", int64_t{1}}})));
  EWB_EXPECT_FAILS(run_op(OpKind::kQuantizeLinear, {x, f32({3}, {1, 2, 3})}, attrs({{"axis", int64_t{2}}})));
}

TEST(ElementwiseBinaryQuant, QuantizeBlockedWithRemainder) {
  // x [2,3], blocks of 2 along axis 1 -> scale [2,2].
  Tensor x = f32({2, 3}, {2, 4, 6, 8, 10, 12});
  auto r = run_op(OpKind::kQuantizeLinear, {x, f32({2, 2}, {1, 2, 2, 4})},
                  attrs({{"axis", int64_t{1}}, {"block_size", int64_t{2}}}));
  EWB_EXPECT(r, DType::kUInt8, Dims({2, 3}), {2, 4, 3, 4, 5, 3});
  EWB_EXPECT_FAILS(run_op(OpKind::kQuantizeLinear, {x, f32({2, 3}, {1, 1, 1, 1, 1, 1})},
                          attrs({{"axis", int64_t{1}}, {"block_size", int64_t{2}}})));
}

TEST(ElementwiseBinaryQuant, QuantizeSubByteAndFloat8) {
  Tensor zp4(DType::kInt4, {});
  zp4.data<int8_t>()[0] = 1;
  auto r = run_op(OpKind::kQuantizeLinear, {f32({3}, {-100, 2, 100}), f32({}, {1}), zp4});
  EWB_EXPECT(r, DType::kInt4, Dims({3}), {-8, 3, 7});
  Tensor zp8(DType::kFloat8E4M3FN, {});
  auto f8 = run_op(OpKind::kQuantizeLinear, {f32({2}, {1, 100000}), f32({}, {2}), zp8});
  EWB_EXPECT(f8, DType::kFloat8E4M3FN, Dims({2}), {0.5, 448});
  Tensor zp2(DType::kUInt2, {});
  EWB_EXPECT(run_op(OpKind::kQuantizeLinear, {f32({2}, {1, 9}), f32({}, {1}), zp2}), DType::kUInt2, Dims({2}), {1, 3});
  EWB_EXPECT_FAILS(run_op(OpKind::kQuantizeLinear, {f32({1}, {1}), f32({}, {1}), u8({}, {0})},
                          attrs({{"output_dtype", int64_t{3}}})));
}

TEST(ElementwiseBinaryQuant, Dequantize) {
  EWB_EXPECT(run_op(OpKind::kDequantizeLinear, {u8({3}, {0, 128, 255}), f32({}, {2}), u8({}, {128})}), DType::kFloat32,
             Dims({3}), {-256, 0, 254});
  auto axis = run_op(OpKind::kDequantizeLinear, {i8({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 10}), i8({2}, {1, 0})},
                     attrs({{"axis", int64_t{0}}}));
  EWB_EXPECT(axis, DType::kFloat32, Dims({2, 2}), {0, 1, 30, 40});
  Tensor half_scale(DType::kFloat16, {});
  half_scale.data<uint16_t>()[0] = kiln::float_to_half(0.5f);
  EWB_EXPECT(run_op(OpKind::kDequantizeLinear, {i32({2}, {3, -4}), half_scale}), DType::kFloat16, Dims({2}), {1.5, -2});
  EWB_EXPECT_FAILS(run_op(OpKind::kDequantizeLinear, {u8({1}, {1}), f32({}, {1}), i8({}, {0})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kDequantizeLinear, {f32({1}, {1}), f32({}, {1})}));
}

TEST(ElementwiseBinaryQuant, DynamicQuantize) {
  auto r = run_op(OpKind::kDynamicQuantizeLinear, {f32({4}, {0, 2, -1, 4.1f})}, {}, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const float scale = 5.1f / 255.f;
  EXPECT_FLOAT_EQ((*r)[1].data<float>()[0], scale);
  EXPECT_EQ((*r)[2].data<uint8_t>()[0], 50);  // round(1 / 0.02)
  EWB_EXPECT_OUT(r, 0, DType::kUInt8, Dims({4}), {50, 150, 0, 255});
  // All zeros: scale 1/255, zero point 0.
  auto z = run_op(OpKind::kDynamicQuantizeLinear, {f32({2}, {0, 0})}, {}, 3);
  EWB_EXPECT_OUT(z, 0, DType::kUInt8, Dims({2}), {0, 0});
  EWB_EXPECT_FAILS(run_op(OpKind::kDynamicQuantizeLinear, {i32({1}, {1})}, {}, 3));
}

}  // namespace
