// GPU tests of the norm family's Softmax and LogSoftmax against the reference backend.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

void check_softmax(OpKind op, DType dt, const Dims& dims, int64_t axis, int opset, uint64_t seed) {
  Attrs a;
  a.set("axis", axis);
  Node n = make_test_node(op, 1, 1, a);
  n.opset = opset;
  SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(dims) + " axis " + std::to_string(axis) + " opset " +
               std::to_string(opset));
  expect_cuda_matches_reference(n, {random_tensor(dt, dims, seed, -4.0, 4.0)});
}

TEST(CudaNormSoftmax, RowLengthsAndDtypes) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax})
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
      for (int64_t len : {1, 7, 12, 33, 768, 1024, 1025, 4096, 4097, 8192, 8200})
        check_softmax(op, dt, {3, len}, -1, 13, 1 + len);
}

TEST(CudaNormSoftmax, NonInnermostAxes) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax})
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      check_softmax(op, dt, {2, 5, 7}, 1, 13, 11);
      check_softmax(op, dt, {33, 4, 3}, 0, 13, 12);
      check_softmax(op, dt, {2, 3, 4, 5}, -3, 13, 13);
    }
}

TEST(CudaNormSoftmax, LegacyOpsetFlattensTail) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax}) {
    check_softmax(op, DType::kFloat32, {2, 3, 4, 5}, 1, 11, 21);
    check_softmax(op, DType::kFloat32, {2, 3, 40, 50}, 2, 11, 22);
    check_softmax(op, DType::kFloat16, {4, 300}, 0, 11, 23);
  }
}

TEST(CudaNormSoftmax, ManyRowsAndScalarRows) {
  KILN_REQUIRE_GPU();
  check_softmax(OpKind::kSoftmax, DType::kFloat32, {1000, 1}, -1, 13, 31);
  check_softmax(OpKind::kSoftmax, DType::kFloat16, {2, 16, 128, 128}, -1, 13, 32);
}

}  // namespace
}  // namespace kiln::testing
