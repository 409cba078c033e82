// Tests of the tensor family's reshaping, joining and slicing kernels.
#include "tensor_test_util.h"

namespace {

using namespace kiln_tensor_test;
using V = std::vector<double>;
using I = std::vector<int64_t>;

TEST(TensorReshape, ZeroCopiesAndMinusOneInfers) {
  EXPECT_OP(run_op(OpKind::kReshape, {iota_f32({2, 3, 4}), i64({3}, {0, -1, 2})}), (Dims{2, 6, 2}),
            V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  auto r = run_op(OpKind::kReshape, {Tensor(DType::kFloat32, {0, 3}), i64({2}, {3, 0})}, attrs({{"allowzero", int64_t{1}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 0}));
  EXPECT_FAILS(run_op(OpKind::kReshape, {iota_f32({2, 3}), i64({2}, {4, -1})}));
  EXPECT_FAILS(run_op(OpKind::kReshape, {iota_f32({2, 3}), i64({2}, {-1, -1})}));
}

TEST(TensorSqueezeUnsqueeze, Axes) {
  auto r = run_op(OpKind::kSqueeze, {iota_f32({1, 3, 1}), i64({1}, {-1})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{1, 3}));
  r = run_op(OpKind::kSqueeze, {iota_f32({1, 3, 1}), Tensor()});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{3}));
  EXPECT_FAILS(run_op(OpKind::kSqueeze, {iota_f32({1, 3}), i64({1}, {1})}));
  r = run_op(OpKind::kUnsqueeze, {iota_f32({3, 4}), i64({2}, {-1, 0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{1, 3, 4, 1}));
  EXPECT_FAILS(run_op(OpKind::kUnsqueeze, {iota_f32({3}), i64({2}, {0, 0})}));
  EXPECT_FAILS(run_op(OpKind::kUnsqueeze, {iota_f32({3}), i64({1}, {5})}));
}

TEST(TensorFlatten, NegativeAxis) {
  auto r = run_op(OpKind::kFlatten, {iota_f32({2, 3, 4}), }, attrs({{"axis", int64_t{-1}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{6, 4}));
  r = run_op(OpKind::kFlatten, {iota_f32({2, 3})}, attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{1, 6}));
  EXPECT_FAILS(run_op(OpKind::kFlatten, {iota_f32({2, 3})}, attrs({{"axis", int64_t{3}}})));
}

TEST(TensorShapeSize, StartEndClamp) {
  EXPECT_OP(run_op(OpKind::kShape, {iota_f32({2, 3, 4})}, attrs({{"start", int64_t{-2}}})), (Dims{2}), V{3, 4});
  EXPECT_OP(run_op(OpKind::kShape, {iota_f32({2, 3, 4})}, attrs({{"start", int64_t{2}}, {"end", int64_t{1}}})), (Dims{0}), V{});
  EXPECT_OP(run_op(OpKind::kShape, {iota_f32({2, 3, 4})}, attrs({{"end", int64_t{10}}})), (Dims{3}), V{2, 3, 4});
  EXPECT_OP(run_op(OpKind::kSize, {iota_f32({2, 3, 4})}), (Dims{}), V{24});
  EXPECT_FAILS(run_op(OpKind::kShape, {Tensor()}));
}

TEST(TensorConcat, NegativeAxisStringsAndMismatch) {
  EXPECT_OP(run_op(OpKind::kConcat, {iota_f32({2, 1}), f32({2, 2}, {7, 8, 9, 10})}, attrs({{"axis", int64_t{-1}}})),
            (Dims{2, 3}), V{0, 7, 8, 1, 9, 10});
  auto r = run_op(OpKind::kConcat, {strs({1}, {"a"}), strs({2}, {"b", "c"})}, attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].strings()[2], "c");
  EXPECT_FAILS(run_op(OpKind::kConcat, {iota_f32({2, 1}), iota_f32({3, 1})}, attrs({{"axis", int64_t{1}}})));
  EXPECT_FAILS(run_op(OpKind::kConcat, {iota_f32({2}), i64({2}, {1, 2})}, attrs({{"axis", int64_t{0}}})));
}

TEST(TensorSplit, SplitInputAndNumOutputs) {
  auto r = run_op(OpKind::kSplit, {iota_f32({2, 5}), i64({2}, {2, 3})}, attrs({{"axis", int64_t{-1}}}), 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {2, 2}, V{0, 1, 5, 6});
  expect_values((*r)[1], {2, 3}, V{2, 3, 4, 7, 8, 9});
  r = run_op(OpKind::kSplit, {iota_f32({5}), Tensor()}, attrs({{"num_outputs", int64_t{3}}}), 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[2], {1}, V{4});
  EXPECT_FAILS(run_op(OpKind::kSplit, {iota_f32({5}), Tensor()}, {}, 2));
  EXPECT_FAILS(run_op(OpKind::kSplit, {iota_f32({5}), i64({2}, {1, 1})}, {}, 2));
}

TEST(TensorSlice, NegativeStepsAndClamping) {
  EXPECT_OP(run_op(OpKind::kSlice, {iota_f32({6}), i64({1}, {-1}), i64({1}, {INT64_MIN}), Tensor(), i64({1}, {-2})}),
            (Dims{3}), V{5, 3, 1});
  EXPECT_OP(run_op(OpKind::kSlice, {iota_f32({2, 4}), i64({1}, {1}), i64({1}, {1000}), i64({1}, {-1}), Tensor()}),
            (Dims{2, 3}), V{1, 2, 3, 5, 6, 7});
  EXPECT_OP(run_op(OpKind::kSlice, {iota_f32({4}), i64({1}, {10}), i64({1}, {20}), Tensor(), Tensor()}), (Dims{0}), V{});
  EXPECT_FAILS(run_op(OpKind::kSlice, {iota_f32({4}), i64({1}, {0}), i64({1}, {2}), Tensor(), i64({1}, {0})}));
  EXPECT_FAILS(run_op(OpKind::kSlice, {iota_f32({4}), i64({1}, {0}), i64({1}, {2}), i64({1}, {1}), Tensor()}));
}

TEST(TensorTranspose, PermAndDefault) {
  EXPECT_OP(run_op(OpKind::kTranspose, {iota_f32({2, 3})}), (Dims{3, 2}), V{0, 3, 1, 4, 2, 5});
  auto r = run_op(OpKind::kTranspose, {iota_f32({2, 3, 4})}, attrs({{"perm", I{1, 2, 0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 4, 2}));
  EXPECT_DOUBLE_EQ((*r)[0].as_double(1), 12);
  EXPECT_FAILS(run_op(OpKind::kTranspose, {iota_f32({2, 3})}, attrs({{"perm", I{0, 0}}})));
}

TEST(TensorIdentityDropout, PassThrough) {
  EXPECT_OP(run_op(OpKind::kIdentity, {iota_f32({3})}), (Dims{3}), V{0, 1, 2});
  auto r = run_op(OpKind::kDropout, {iota_f32({3}), f32({}, {0.5f}), Tensor()}, {}, 2);
  ASSERT_TRUE(r.ok());
  expect_values((*r)[1], {3}, V{1, 1, 1});
  EXPECT_EQ((*r)[1].dtype(), DType::kBool);
  Tensor on = Tensor::scalar<uint8_t>(DType::kBool, 1);
  EXPECT_TRUE(run_op(OpKind::kDropout, {iota_f32({3}), f32({}, {0.f}), on}, {}, 2).ok());
  EXPECT_FAILS(run_op(OpKind::kDropout, {iota_f32({3}), f32({}, {0.5f}), on}, {}, 2));
}

}  // namespace
