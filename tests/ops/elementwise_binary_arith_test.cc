// Tests of the elementwise_binary arithmetic kernels: Add, Sub, Mul, Div, Mod, Pow.
#include "core/float_formats.h"
#include "elementwise_binary_test_util.h"

namespace {

using namespace kiln_ewb_test;  // NOLINT

TEST(ElementwiseBinaryArith, AddBroadcastsOddShapes) {
  // [2,1,3] + [1,2,1] -> [2,2,3]
  auto r = run_op(OpKind::kAdd, {f32({2, 1, 3}, {0, 1, 2, 3, 4, 5}), f32({2, 1}, {10, 20})});
  EWB_EXPECT(r, DType::kFloat32, Dims({2, 2, 3}), {10, 11, 12, 20, 21, 22, 13, 14, 15, 23, 24, 25});
}

TEST(ElementwiseBinaryArith, AddScalarAndEmpty) {
  EWB_EXPECT(run_op(OpKind::kAdd, {i64({}, {5}), i64({3}, {1, 2, 3})}), DType::kInt64, Dims({3}), {6, 7, 8});
  EWB_EXPECT(run_op(OpKind::kAdd, {f32({0, 3}, {}), f32({3}, {1, 2, 3})}), DType::kFloat32, Dims({0, 3}), {});
}

TEST(ElementwiseBinaryArith, IntegerOverflowWraps) {
  EWB_EXPECT(run_op(OpKind::kAdd, {i8({2}, {127, -128}), i8({2}, {1, -1})}), DType::kInt8, Dims({2}), {-128, 127});
  EWB_EXPECT(run_op(OpKind::kMul, {u8({1}, {200}), u8({1}, {2})}), DType::kUInt8, Dims({1}), {144});
  EWB_EXPECT(run_op(OpKind::kSub, {u8({1}, {1}), u8({1}, {2})}), DType::kUInt8, Dims({1}), {255});
}

TEST(ElementwiseBinaryArith, SubMulDivFloat) {
  EWB_EXPECT(run_op(OpKind::kSub, {f32({2}, {1, 2}), f32({1}, {3})}), DType::kFloat32, Dims({2}), {-2, -1});
  EWB_EXPECT(run_op(OpKind::kMul, {f32({2}, {1.5, 2}), f32({2}, {2, -3})}), DType::kFloat32, Dims({2}), {3, -6});
  EWB_EXPECT(run_op(OpKind::kDiv, {f32({2}, {1, -3}), f32({2}, {4, 2})}), DType::kFloat32, Dims({2}), {0.25, -1.5});
}

TEST(ElementwiseBinaryArith, IntegerDivTruncatesAndRejectsZero) {
  EWB_EXPECT(run_op(OpKind::kDiv, {i32({4}, {7, -7, 7, -2147483647 - 1}), i32({4}, {2, 2, -2, -1})}), DType::kInt32,
             Dims({4}), {3, -3, -3, -2147483648.0});
  EWB_EXPECT_FAILS(run_op(OpKind::kDiv, {i32({2}, {1, 2}), i32({2}, {1, 0})}));
}

TEST(ElementwiseBinaryArith, ModSignRules) {
  // fmod=0: sign of the divisor; fmod=1: sign of the dividend.
  auto a = i32({4}, {-4, 7, 5, -7});
  auto b = i32({4}, {3, -3, 8, -3});
  EWB_EXPECT(run_op(OpKind::kMod, {a, b}), DType::kInt32, Dims({4}), {2, -2, 5, -1});
  EWB_EXPECT(run_op(OpKind::kMod, {a, b}, attrs({{"fmod", int64_t{1}}})), DType::kInt32, Dims({4}), {-1, 1, 5, -1});
  EWB_EXPECT(run_op(OpKind::kMod, {f32({2}, {-4.5f, 7}), f32({2}, {2, -3})}, attrs({{"fmod", int64_t{1}}})),
             DType::kFloat32, Dims({2}), {-0.5, 1});
  EWB_EXPECT_FAILS(run_op(OpKind::kMod, {a, b}, attrs({{"fmod", int64_t{2}}})));
  EWB_EXPECT_FAILS(run_op(OpKind::kMod, {f32({1}, {1}), f32({1}, {2})}));  // floats need fmod=1
  EWB_EXPECT_FAILS(run_op(OpKind::kMod, {i32({1}, {1}), i32({1}, {0})}));
}

TEST(ElementwiseBinaryArith, Float16ComputesInFloat32) {
  Tensor a(DType::kFloat16, {2});
  Tensor b(DType::kFloat16, {2});
  a.data<uint16_t>()[0] = kiln::float_to_half(1.5f);
  a.data<uint16_t>()[1] = kiln::float_to_half(-2.f);
  b.data<uint16_t>()[0] = kiln::float_to_half(0.25f);
  b.data<uint16_t>()[1] = kiln::float_to_half(4.f);
  EWB_EXPECT(run_op(OpKind::kAdd, {a, b}), DType::kFloat16, Dims({2}), {1.75, 2});
}

TEST(ElementwiseBinaryArith, PowMixedDtypes) {
  EWB_EXPECT(run_op(OpKind::kPow, {f32({3}, {2, 4, -2}), i64({3}, {3, -1, 2})}), DType::kFloat32, Dims({3}),
             {8, 0.25, 4});
  EWB_EXPECT(run_op(OpKind::kPow, {i32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}), DType::kInt32, Dims({3}), {1, 32, 729});
  EWB_EXPECT(run_op(OpKind::kPow, {i64({4}, {3, -2, 2, -1}), i64({1}, {3})}), DType::kInt64, Dims({4}),
             {27, -8, 8, -1});
  EWB_EXPECT(run_op(OpKind::kPow, {i64({3}, {2, 1, -1}), i64({1}, {-1})}), DType::kInt64, Dims({3}), {0, 1, -1});
  EWB_EXPECT_FAILS(run_op(OpKind::kPow, {f32({2}, {1, 2}), f32({3}, {1, 2, 3})}));
}

TEST(ElementwiseBinaryArith, LegacyBroadcastAxis) {
  // Opset 6: B [3] aligned to axis 1 of A [2,3,2].
  Tensor a = f32({2, 3, 2}, {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1});
  auto r =
      run_op(OpKind::kAdd, {a, f32({3}, {10, 20, 30})}, attrs({{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}), 1, 6);
  EWB_EXPECT(r, DType::kFloat32, Dims({2, 3, 2}), {10, 10, 20, 20, 30, 30, 11, 11, 21, 21, 31, 31});
  EWB_EXPECT_FAILS(
      run_op(OpKind::kAdd, {a, f32({2}, {1, 2})}, attrs({{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}), 1, 6));
}

TEST(ElementwiseBinaryArith, BadInputsFail) {
  EWB_EXPECT_FAILS(run_op(OpKind::kAdd, {f32({2}, {1, 2}), f32({3}, {1, 2, 3})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kSub, {f32({2}, {1, 2}), i64({2}, {1, 2})}));
  EWB_EXPECT_FAILS(run_op(OpKind::kMul, {f32({2}, {1, 2}), Tensor()}));
  EWB_EXPECT_FAILS(run_op(OpKind::kAdd, {boolean({1}, {1}), boolean({1}, {1})}));
  // A broadcast far beyond the allocation limit is an error, not an abort.
  auto huge = run_op(OpKind::kAdd, {Tensor(DType::kUInt8, {1 << 20, 1}), Tensor(DType::kUInt8, {1, 1 << 21})});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), kiln::StatusCode::kResourceExhausted);
}

}  // namespace
