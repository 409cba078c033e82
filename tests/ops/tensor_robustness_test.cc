// Robustness of the tensor family's kernels: odd and hostile input combinations must return a Status, never crash.
#include <limits>

#include "tensor_test_util.h"

namespace {

using namespace kiln_tensor_test;

TEST(TensorRobustness, HostileInputCombinationsNeverCrash) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  std::vector<Tensor> pool = {
      Tensor(),
      i64({}, {-1}),
      i64({2}, {3, -5}),
      i64({2}, {big, std::numeric_limits<int64_t>::min()}),
      i64({1, 1}, {0}),
      Tensor(DType::kFloat32, {2, 0}),
      iota_f32({1, 2, 1}),
      strs({2}, {"a", "b"}),
      Tensor::from_vector<uint8_t>(DType::kBool, {3}, {1, 0, 1}),
  };
  const std::vector<OpKind> ops = {
      OpKind::kReshape, OpKind::kSqueeze, OpKind::kUnsqueeze, OpKind::kFlatten, OpKind::kIdentity, OpKind::kShape,
      OpKind::kSize, OpKind::kDropout, OpKind::kTranspose, OpKind::kDepthToSpace, OpKind::kSpaceToDepth,
      OpKind::kTrilu, OpKind::kEyeLike, OpKind::kReverseSequence, OpKind::kConcat, OpKind::kSplit, OpKind::kSlice,
      OpKind::kPad, OpKind::kExpand, OpKind::kTile, OpKind::kCenterCropPad, OpKind::kGather, OpKind::kGatherElements,
      OpKind::kGatherND, OpKind::kCompress, OpKind::kNonZero, OpKind::kScatter, OpKind::kScatterElements,
      OpKind::kScatterND, OpKind::kTensorScatter, OpKind::kConstantOfShape, OpKind::kRange, OpKind::kOneHot,
      OpKind::kCumSum, OpKind::kTopK, OpKind::kArgMax, OpKind::kArgMin, OpKind::kUnique};
  const std::vector<Attrs> attr_sets = {
      {}, attrs({{"axis", int64_t{-1}}, {"blocksize", int64_t{2}}, {"perm", std::vector<int64_t>{1, 0}}}),
      attrs({{"axis", int64_t{7}}, {"num_outputs", int64_t{2}}, {"mode", std::string("reflect")}})};
  int runs = 0;
  for (OpKind op : ops)
    for (const Attrs& a : attr_sets)
      for (size_t x = 0; x < pool.size(); ++x)
        for (size_t y = 0; y < pool.size(); ++y)
          for (size_t z = 0; z < pool.size(); z += 2) {
            auto r = run_op(op, {pool[x], pool[y], pool[z]}, a, 2);
            (void)r;
            ++runs;
          }
  EXPECT_GT(runs, 0);
}

}  // namespace
