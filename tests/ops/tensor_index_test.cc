// Tests of the tensor family's gather, scatter, pad and layout kernels.
#include "tensor_test_util.h"

namespace {

using namespace kiln_tensor_test;
using V = std::vector<double>;
using I = std::vector<int64_t>;

TEST(TensorGather, AxisAndNegativeIndices) {
  EXPECT_OP(run_op(OpKind::kGather, {iota_f32({3, 2}), i64({2}, {-1, 0})}), (Dims{2, 2}), V{4, 5, 0, 1});
  EXPECT_OP(run_op(OpKind::kGather, {iota_f32({2, 3}), i64({}, {2})}, attrs({{"axis", int64_t{1}}})), (Dims{2}), V{2, 5});
  EXPECT_FAILS(run_op(OpKind::kGather, {iota_f32({3}), i64({1}, {3})}));
  auto r = run_op(OpKind::kGather, {strs({3}, {"x", "y", "z"}), i64({2}, {2, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].strings()[1], "z");
}

TEST(TensorGatherElements, Axis1) {
  EXPECT_OP(run_op(OpKind::kGatherElements, {iota_f32({2, 2}), i64({2, 2}, {0, 0, 1, -2})}, attrs({{"axis", int64_t{1}}})),
            (Dims{2, 2}), V{0, 0, 3, 2});
  EXPECT_FAILS(run_op(OpKind::kGatherElements, {iota_f32({2, 2}), i64({2}, {0, 0})}));
}

TEST(TensorGatherND, BatchDims) {
  EXPECT_OP(run_op(OpKind::kGatherND, {iota_f32({2, 2}), i64({2, 2}, {0, 0, 1, 1})}), (Dims{2}), V{0, 3});
  EXPECT_OP(run_op(OpKind::kGatherND, {iota_f32({2, 2, 2}), i64({2, 1}, {1, 0})}, attrs({{"batch_dims", int64_t{1}}})),
            (Dims{2, 2}), V{2, 3, 4, 5});
  EXPECT_FAILS(run_op(OpKind::kGatherND, {iota_f32({2, 2}), i64({1, 3}, {0, 0, 0})}));
  EXPECT_FAILS(run_op(OpKind::kGatherND, {iota_f32({2, 2}), i64({1, 2}, {0, 2})}));
}

TEST(TensorScatter, ElementsNDAndReductions) {
  EXPECT_OP(run_op(OpKind::kScatterElements, {iota_f32({1, 3}), i64({1, 2}, {2, -3}), f32({1, 2}, {9, 8})},
                   attrs({{"axis", int64_t{1}}})), (Dims{1, 3}), V{8, 1, 9});
  EXPECT_OP(run_op(OpKind::kScatterElements, {iota_f32({3}), i64({2}, {1, 1}), f32({2}, {5, 6})},
                   attrs({{"reduction", std::string("add")}})), (Dims{3}), V{0, 12, 2});
  EXPECT_OP(run_op(OpKind::kScatterND, {iota_f32({2, 2}), i64({1, 1}, {1}), f32({1, 2}, {7, 1})},
                   attrs({{"reduction", std::string("max")}})), (Dims{2, 2}), V{0, 1, 7, 3});
  EXPECT_OP(run_op(OpKind::kScatterND, {i32({3}, {1, 2, 3}), i64({2, 1}, {0, 0}), i32({2}, {2, 3})},
                   attrs({{"reduction", std::string("mul")}})), (Dims{3}), V{6, 2, 3});
  EXPECT_FAILS(run_op(OpKind::kScatterND, {iota_f32({2}), i64({1, 1}, {2}), f32({1}, {1})}));
  EXPECT_FAILS(run_op(OpKind::kScatterElements, {iota_f32({2}), i64({1}, {0}), f32({2}, {1, 2})}));
}

TEST(TensorScatter, TensorScatterCircular) {
  // cache [1, 3, 1]: write 2 steps at index 2 circularly -> positions 2, 0.
  EXPECT_OP(run_op(OpKind::kTensorScatter, {f32({1, 3, 1}, {0, 0, 0}), f32({1, 2, 1}, {5, 6}), i64({1}, {2})},
                   attrs({{"mode", std::string("circular")}})), (Dims{1, 3, 1}), V{6, 0, 5});
  EXPECT_FAILS(run_op(OpKind::kTensorScatter, {f32({1, 3, 1}, {0, 0, 0}), f32({1, 2, 1}, {5, 6}), i64({1}, {2})}));
}

TEST(TensorPad, Modes) {
  Tensor x = f32({3}, {1, 2, 3});
  EXPECT_OP(run_op(OpKind::kPad, {x, i64({2}, {2, 1}), f32({}, {9}), Tensor()}), (Dims{6}), V{9, 9, 1, 2, 3, 9});
  EXPECT_OP(run_op(OpKind::kPad, {x, i64({2}, {2, 2}), Tensor(), Tensor()}, attrs({{"mode", std::string("reflect")}})),
            (Dims{7}), V{3, 2, 1, 2, 3, 2, 1});
  EXPECT_OP(run_op(OpKind::kPad, {x, i64({2}, {1, 2}), Tensor(), Tensor()}, attrs({{"mode", std::string("edge")}})),
            (Dims{6}), V{1, 1, 2, 3, 3, 3});
  EXPECT_OP(run_op(OpKind::kPad, {x, i64({2}, {2, 1}), Tensor(), Tensor()}, attrs({{"mode", std::string("wrap")}})),
            (Dims{6}), V{2, 3, 1, 2, 3, 1});
  EXPECT_OP(run_op(OpKind::kPad, {iota_f32({2, 2}), i64({2}, {-1, 1}), Tensor(), i64({1}, {-1})}), (Dims{2, 2}), V{1, 0, 3, 0});
  EXPECT_FAILS(run_op(OpKind::kPad, {x, i64({3}, {1, 1, 1}), Tensor(), Tensor()}));
  EXPECT_FAILS(run_op(OpKind::kPad, {x, i64({2}, {-4, 0}), Tensor(), Tensor()}));
}

TEST(TensorExpandTile, Broadcast) {
  EXPECT_OP(run_op(OpKind::kExpand, {f32({2, 1}, {1, 2}), i64({3}, {1, 1, 3})}), (Dims{1, 2, 3}), V{1, 1, 1, 2, 2, 2});
  EXPECT_FAILS(run_op(OpKind::kExpand, {f32({2}, {1, 2}), i64({1}, {3})}));
  EXPECT_OP(run_op(OpKind::kTile, {f32({2}, {1, 2}), i64({1}, {2})}), (Dims{4}), V{1, 2, 1, 2});
  EXPECT_FAILS(run_op(OpKind::kTile, {f32({2}, {1, 2}), i64({2}, {2, 2})}));
}

TEST(TensorCenterCropPad, CropAndPad) {
  EXPECT_OP(run_op(OpKind::kCenterCropPad, {iota_f32({5}), i64({1}, {2})}), (Dims{2}), V{1, 2});
  EXPECT_OP(run_op(OpKind::kCenterCropPad, {f32({2}, {1, 2}), i64({1}, {5})}), (Dims{5}), V{0, 1, 2, 0, 0});
  EXPECT_FAILS(run_op(OpKind::kCenterCropPad, {iota_f32({5}), i64({2}, {1, 1})}));
}

TEST(TensorDepthSpace, RoundTrip) {
  auto d2s = run_op(OpKind::kDepthToSpace, {iota_f32({1, 4, 1, 1})}, attrs({{"blocksize", int64_t{2}}}));
  ASSERT_TRUE(d2s.ok());
  expect_values((*d2s)[0], {1, 1, 2, 2}, V{0, 1, 2, 3});
  auto crd = run_op(OpKind::kDepthToSpace, {iota_f32({1, 8, 1, 1})},
                    attrs({{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}));
  ASSERT_TRUE(crd.ok());
  expect_values((*crd)[0], {1, 2, 2, 2}, V{0, 1, 2, 3, 4, 5, 6, 7});
  auto s2d = run_op(OpKind::kSpaceToDepth, {iota_f32({1, 1, 2, 2})}, attrs({{"blocksize", int64_t{2}}}));
  ASSERT_TRUE(s2d.ok());
  expect_values((*s2d)[0], {1, 4, 1, 1}, V{0, 1, 2, 3});
  EXPECT_FAILS(run_op(OpKind::kDepthToSpace, {iota_f32({1, 3, 1, 1})}, attrs({{"blocksize", int64_t{2}}})));
  EXPECT_FAILS(run_op(OpKind::kSpaceToDepth, {iota_f32({1, 3})}, attrs({{"blocksize", int64_t{2}}})));
}

TEST(TensorCompressNonZero, Basic) {
  Tensor cond = Tensor::from_vector<uint8_t>(DType::kBool, {2}, {0, 1});
  EXPECT_OP(run_op(OpKind::kCompress, {iota_f32({2, 2}), cond}, attrs({{"axis", int64_t{-1}}})), (Dims{2, 1}), V{1, 3});
  EXPECT_OP(run_op(OpKind::kCompress, {iota_f32({2, 2}), cond}), (Dims{1}), V{1});
  EXPECT_FAILS(run_op(OpKind::kCompress, {iota_f32({1}), cond}));
  EXPECT_OP(run_op(OpKind::kNonZero, {f32({2, 2}, {0, 1, 1, 0})}), (Dims{2, 2}), V{0, 1, 1, 0});
  EXPECT_FAILS(run_op(OpKind::kNonZero, {Tensor()}));
}

}  // namespace
