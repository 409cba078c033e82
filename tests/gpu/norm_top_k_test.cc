// GPU tests of TopK against the reference backend.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

void check_top_k(DType dt, const Dims& dims, int64_t axis, int64_t k, bool largest, uint64_t seed, double lo = -1.0,
                 double hi = 1.0) {
  Attrs a;
  a.set("axis", axis);
  a.set("largest", int64_t{largest});
  a.set("sorted", int64_t{1});
  Node n = make_test_node(OpKind::kTopK, 2, 2, a);
  n.opset = 11;
  SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(dims) + " axis " + std::to_string(axis) + " k " +
               std::to_string(k) + (largest ? " largest" : " smallest"));
  expect_cuda_matches_reference(
      n, {random_tensor(dt, dims, seed, lo, hi), Tensor::from_vector<int64_t>(DType::kInt64, {1}, {k})}, {1});
}

TEST(CudaNormTopK, RowLengthsAndDtypes) {
  KILN_REQUIRE_GPU();
  for (bool largest : {true, false}) {
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
      for (int64_t len : {1, 7, 33, 768, 4096}) check_top_k(dt, {3, len}, -1, std::min<int64_t>(len, 5), largest, len);
    check_top_k(DType::kFloat32, {4, 50, 3}, 1, 50, largest, 61);    // k = len, strided axis
    check_top_k(DType::kInt32, {4, 100}, 1, 10, largest, 62, 0, 5);  // ties: lower index first
    check_top_k(DType::kInt64, {2, 7}, 1, 0, largest, 63);           // k = 0
  }
}

}  // namespace
}  // namespace kiln::testing
