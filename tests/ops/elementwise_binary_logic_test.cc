// Tests of the elementwise_binary logical, comparison, bitwise, variadic, PRelu and Where kernels.
#include <limits>

#include "elementwise_binary_test_util.h"

namespace {

using namespace kiln_ewb_test;  // NOLINT

TEST(ElementwiseBinaryLogic, AndOrXorBroadcast) {
  Tensor a = boolean({2, 2}, {0, 1, 1, 0});
  Tensor b = boolean({2}, {1, 1});
  EWB_EXPECT(run_op(OpKind::kAnd, {a, b}), DType::kBool, Dims({2, 2}), {0, 1, 1, 0});
  EWB_EXPECT(run_op(OpKind::kOr, {a, boolean({2, 1}, {0, 1})}), DType::kBool, Dims({2, 2}), {0, 1, 1, 1});
  EWB_EXPECT(run_op(OpKind::kXor, {a, b}), DType::kBool, Dims({2, 2}), {1, 0, 0, 1});
  EWB_EXPECT_FAILS(run_op(OpKind::kAnd, {f32({1}, {1}), f32({1}, {1})}));
}

TEST(ElementwiseBinaryLogic, Comparisons) {
  Tensor a = i32({3}, {1, 2, 3});
  Tensor b = i32({1}, {2});
  EWB_EXPECT(run_op(OpKind::kEqual, {a, b}), DType::kBool, Dims({3}), {0, 1, 0});
  EWB_EXPECT(run_op(OpKind::kGreater, {a, b}), DType::kBool, Dims({3}), {0, 0, 1});
  EWB_EXPECT(run_op(OpKind::kGreaterOrEqual, {a, b}), DType::kBool, Dims({3}), {0, 1, 1});
  EWB_EXPECT(run_op(OpKind::kLess, {a, b}), DType::kBool, Dims({3}), {1, 0, 0});
  EWB_EXPECT(run_op(OpKind::kLessOrEqual, {a, b}), DType::kBool, Dims({3}), {1, 1, 0});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EWB_EXPECT(run_op(OpKind::kEqual, {f32({2}, {nan, 1}), f32({2}, {nan, 1})}), DType::kBool, Dims({2}), {0, 1});
  EWB_EXPECT(run_op(OpKind::kEqual, {boolean({2}, {0, 1}), boolean({1}, {1})}), DType::kBool, Dims({2}), {0, 1});
  EWB_EXPECT_FAILS(run_op(OpKind::kLess, {i32({2}, {1, 2}), i64({2}, {1, 2})}));
}

TEST(ElementwiseBinaryLogic, EqualStrings) {
  auto r = run_op(OpKind::kEqual, {strs({2, 2}, {"a", "b", "c", "a"}), strs({1}, {"a"})});
  EWB_EXPECT(r, DType::kBool, Dims({2, 2}), {1, 0, 0, 1});
  EWB_EXPECT_FAILS(run_op(OpKind::kGreater, {strs({1}, {"a"}), strs({1}, {"b"})}));
}

TEST(ElementwiseBinaryLogic, BitShift) {
  auto l =
      run_op(OpKind::kBitShift, {u8({3}, {16, 4, 1}), u8({3}, {1, 2, 9})}, attrs({{"direction", std::string("LEFT")}}));
  EWB_EXPECT(l, DType::kUInt8, Dims({3}), {32, 16, 0});
  auto r = run_op(OpKind::kBitShift, {u8({3}, {16, 4, 1}), u8({1}, {2})}, attrs({{"direction", std::string("RIGHT")}}));
  EWB_EXPECT(r, DType::kUInt8, Dims({3}), {4, 1, 0});
  EWB_EXPECT_FAILS(run_op(OpKind::kBitShift, {u8({1}, {1}), u8({1}, {1})}, attrs({{"direction", std::string("UP")}})));
  EWB_EXPECT_FAILS(
      run_op(OpKind::kBitShift, {i32({1}, {1}), i32({1}, {1})}, attrs({{"direction", std::string("LEFT")}})));
}

TEST(ElementwiseBinaryLogic, Bitwise) {
  Tensor a = i32({2}, {12, -1});
  Tensor b = i32({2}, {10, 5});
  EWB_EXPECT(run_op(OpKind::kBitwiseAnd, {a, b}), DType::kInt32, Dims({2}), {8, 5});
  EWB_EXPECT(run_op(OpKind::kBitwiseOr, {a, b}), DType::kInt32, Dims({2}), {14, -1});
  EWB_EXPECT(run_op(OpKind::kBitwiseXor, {a, b}), DType::kInt32, Dims({2}), {6, -6});
  EWB_EXPECT_FAILS(run_op(OpKind::kBitwiseAnd, {f32({1}, {1}), f32({1}, {1})}));
}

TEST(ElementwiseBinaryLogic, VariadicMaxMinSumMean) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = f32({3}, {1, 5, nan});
  Tensor b = f32({1}, {3});
  Tensor c = f32({2, 1}, {0, 10});
  EWB_EXPECT(run_op(OpKind::kMax, {a, b, c}), DType::kFloat32, Dims({2, 3}), {3, 5, nan, 10, 10, nan});
  EWB_EXPECT(run_op(OpKind::kMin, {a, b}), DType::kFloat32, Dims({3}), {1, 3, nan});
  EWB_EXPECT(run_op(OpKind::kSum, {f32({2}, {1, 2}), f32({2}, {3, 4}), f32({1}, {1})}), DType::kFloat32, Dims({2}),
             {5, 7});
  EWB_EXPECT(run_op(OpKind::kMean, {f32({2}, {1, 2}), f32({2}, {3, 6})}), DType::kFloat32, Dims({2}), {2, 4});
  EWB_EXPECT(run_op(OpKind::kMax, {i64({2}, {1, -5})}), DType::kInt64, Dims({2}), {1, -5});
  EWB_EXPECT(run_op(OpKind::kMin, {u8({2}, {1, 200}), u8({2}, {3, 100})}), DType::kUInt8, Dims({2}), {1, 100});
  EWB_EXPECT_FAILS(run_op(OpKind::kMax, {}));
  EWB_EXPECT_FAILS(run_op(OpKind::kSum, {f32({2}, {1, 2}), f32({3}, {1, 2, 3})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kMin, {f32({2}, {1, 2}), i64({2}, {1, 2})}));
}

TEST(ElementwiseBinaryLogic, PRelu) {
  Tensor x = f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  EWB_EXPECT(run_op(OpKind::kPRelu, {x, f32({3}, {0.5, 1, 2})}), DType::kFloat32, Dims({2, 3}),
             {-0.5, 2, -6, 4, -5, 6});
  EWB_EXPECT(run_op(OpKind::kPRelu, {x, f32({}, {0.1f})}), DType::kFloat32, Dims({2, 3}),
             {-0.1f, 2, -0.3f, 4, -0.5f, 6});
  // Opset 6: a 1-D slope is per channel (axis 1).
  Tensor x4 = f32({1, 2, 1, 2}, {-1, -1, -1, -1});
  EWB_EXPECT(run_op(OpKind::kPRelu, {x4, f32({2}, {2, 3})}, {}, 1, 6), DType::kFloat32, Dims({1, 2, 1, 2}),
             {-2, -2, -3, -3});
  // Unidirectional: slope must not grow X.
  EWB_EXPECT_FAILS(run_op(OpKind::kPRelu, {f32({3}, {1, 2, 3}), f32({2, 3}, {1, 2, 3, 4, 5, 6})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kPRelu, {x, f32({2}, {1, 2})}));
}

TEST(ElementwiseBinaryLogic, WhereBroadcastsAllThree) {
  Tensor cond = boolean({2, 1}, {1, 0});
  EWB_EXPECT(run_op(OpKind::kWhere, {cond, f32({3}, {1, 2, 3}), f32({}, {-1})}), DType::kFloat32, Dims({2, 3}),
             {1, 2, 3, -1, -1, -1});
  auto r = run_op(OpKind::kWhere, {boolean({2}, {0, 1}), strs({2}, {"x", "y"}), strs({1}, {"z"})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].strings()[0], "z");
  EXPECT_EQ((*r)[0].strings()[1], "y");
  EWB_EXPECT_FAILS(run_op(OpKind::kWhere, {f32({1}, {1}), f32({1}, {1}), f32({1}, {2})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kWhere, {boolean({2}, {0, 1}), f32({3}, {1, 2, 3}), f32({1}, {2})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kWhere, {boolean({1}, {1}), f32({1}, {1}), i64({1}, {2})}));
}

}  // namespace
