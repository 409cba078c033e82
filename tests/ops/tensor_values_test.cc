// Tests of the tensor family's sorting, generating and accumulating kernels.
#include "tensor_test_util.h"

namespace {

using namespace kiln_tensor_test;
using V = std::vector<double>;
using I = std::vector<int64_t>;

TEST(TensorTopK, TiesByLowerIndex) {
  auto r = run_op(OpKind::kTopK, {f32({2, 3}, {1, 3, 3, 2, 2, 5}), i64({1}, {2})}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {2, 2}, V{3, 3, 5, 2});
  expect_values((*r)[1], {2, 2}, V{1, 2, 2, 0});
  r = run_op(OpKind::kTopK, {f32({3}, {2, 1, 1}), i64({1}, {2})}, attrs({{"largest", int64_t{0}}}), 2);
  ASSERT_TRUE(r.ok());
  expect_values((*r)[1], {2}, V{1, 2});
  EXPECT_FAILS(run_op(OpKind::kTopK, {f32({3}, {2, 1, 1}), i64({1}, {4})}, {}, 2));
}

TEST(TensorArgMaxMin, SelectLastAndKeepdims) {
  Tensor x = f32({2, 3}, {1, 5, 5, 0, 0, -1});
  EXPECT_OP(run_op(OpKind::kArgMax, {x}, attrs({{"axis", int64_t{1}}})), (Dims{2, 1}), V{1, 0});
  EXPECT_OP(run_op(OpKind::kArgMax, {x}, attrs({{"axis", int64_t{-1}}, {"select_last_index", int64_t{1}}, {"keepdims", int64_t{0}}})),
            (Dims{2}), V{2, 1});
  EXPECT_OP(run_op(OpKind::kArgMin, {x}, attrs({{"axis", int64_t{0}}})), (Dims{1, 3}), V{1, 1, 1});
  EXPECT_FAILS(run_op(OpKind::kArgMin, {x}, attrs({{"axis", int64_t{2}}})));
}

TEST(TensorUnique, SortedUnsortedAxis) {
  Tensor x = f32({5}, {2, 1, 1, 3, 2});
  auto r = run_op(OpKind::kUnique, {x}, attrs({{"sorted", int64_t{0}}}), 4);
  ASSERT_TRUE(r.ok());
  expect_values((*r)[0], {3}, V{2, 1, 3});
  expect_values((*r)[1], {3}, V{0, 1, 3});
  expect_values((*r)[2], {5}, V{0, 1, 1, 2, 0});
  expect_values((*r)[3], {3}, V{2, 2, 1});
  r = run_op(OpKind::kUnique, {x}, {}, 4);
  ASSERT_TRUE(r.ok());
  expect_values((*r)[0], {3}, V{1, 2, 3});
  expect_values((*r)[2], {5}, V{1, 0, 0, 2, 1});
  r = run_op(OpKind::kUnique, {f32({3, 2}, {1, 0, 1, 0, 0, 1})}, attrs({{"axis", int64_t{0}}}), 4);
  ASSERT_TRUE(r.ok());
  expect_values((*r)[0], {2, 2}, V{0, 1, 1, 0});
  EXPECT_FAILS(run_op(OpKind::kUnique, {x}, attrs({{"axis", int64_t{1}}}), 4));
}

TEST(TensorCumSum, ExclusiveReverse) {
  EXPECT_OP(run_op(OpKind::kCumSum, {f32({3}, {1, 2, 3}), i64({}, {0})}), (Dims{3}), V{1, 3, 6});
  EXPECT_OP(run_op(OpKind::kCumSum, {i32({3}, {1, 2, 3}), i32({}, {-1})}, attrs({{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}})),
            (Dims{3}), V{5, 3, 0});
  EXPECT_FAILS(run_op(OpKind::kCumSum, {f32({3}, {1, 2, 3}), i64({}, {1})}));
}

TEST(TensorGenerators, ConstantOfShapeRangeOneHotEyeLikeTrilu) {
  Attrs a;
  a.set("value", Tensor::from_vector<int32_t>(DType::kInt32, {1}, {7}));
  auto r = run_op(OpKind::kConstantOfShape, {i64({2}, {2, 1})}, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  expect_values((*r)[0], {2, 1}, V{7, 7});
  EXPECT_FAILS(run_op(OpKind::kConstantOfShape, {i64({1}, {-2})}));
  EXPECT_OP(run_op(OpKind::kRange, {i32({}, {10}), i32({}, {4}), i32({}, {-3})}), (Dims{2}), V{10, 7});
  EXPECT_OP(run_op(OpKind::kRange, {f32({}, {1}), f32({}, {2}), f32({}, {0.25f})}), (Dims{4}), V{1, 1.25, 1.5, 1.75});
  EXPECT_FAILS(run_op(OpKind::kRange, {f32({}, {1}), f32({}, {2}), f32({}, {0})}));
  EXPECT_OP(run_op(OpKind::kOneHot, {i64({2}, {-1, 0}), f32({}, {3}), f32({2}, {0, 5})}, attrs({{"axis", int64_t{0}}})),
            (Dims{3, 2}), V{0, 5, 0, 0, 5, 0});
  EXPECT_FAILS(run_op(OpKind::kOneHot, {i64({2}, {1, 0}), f32({}, {3}), f32({3}, {0, 5, 1})}));
  EXPECT_OP(run_op(OpKind::kEyeLike, {iota_f32({2, 3})}, attrs({{"k", int64_t{1}}})), (Dims{2, 3}), V{0, 1, 0, 0, 0, 1});
  EXPECT_FAILS(run_op(OpKind::kEyeLike, {iota_f32({3})}));
  EXPECT_OP(run_op(OpKind::kTrilu, {iota_f32({2, 3}), i64({}, {-1})}, attrs({{"upper", int64_t{0}}})), (Dims{2, 3}), V{0, 0, 0, 3, 0, 0});
  EXPECT_OP(run_op(OpKind::kTrilu, {iota_f32({2, 3}), Tensor()}), (Dims{2, 3}), V{0, 1, 2, 0, 4, 5});
  EXPECT_FAILS(run_op(OpKind::kTrilu, {iota_f32({3}), Tensor()}));
}

TEST(TensorReverseSequence, BatchAxis0) {
  EXPECT_OP(run_op(OpKind::kReverseSequence, {iota_f32({2, 3}), i64({2}, {2, 3})},
                   attrs({{"batch_axis", int64_t{0}}, {"time_axis", int64_t{1}}})), (Dims{2, 3}), V{1, 0, 2, 5, 4, 3});
  EXPECT_FAILS(run_op(OpKind::kReverseSequence, {iota_f32({2, 3}), i64({2}, {4, 1})},
                      attrs({{"batch_axis", int64_t{0}}, {"time_axis", int64_t{1}}})));
}

}  // namespace
