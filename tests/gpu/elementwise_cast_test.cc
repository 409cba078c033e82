// GPU tests of the elementwise family's Cast / CastLike against the reference backend: every dtype pair the
// CUDA kernel takes, rounding of narrow floats, truncation and wrap-around of float -> int.
#include <gtest/gtest.h>

#include <limits>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

const std::vector<DType> kCastTypes = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                       DType::kFloat64, DType::kInt8,    DType::kUInt8,
                                       DType::kInt32,   DType::kInt64,   DType::kBool};

Node cast_node(DType to) {
  Attrs a;
  a.set("to", static_cast<int64_t>(to));
  Node n = make_test_node(OpKind::kCast, 1, 1, a);
  n.opset = 19;
  return n;
}

// Ranges that exercise each source type: fractions, negatives, values beyond int8/uint8.
void range_for(DType from, double* lo, double* hi) {
  switch (from) {
    case DType::kInt8:
      *lo = -128, *hi = 127;
      return;
    case DType::kUInt8:
      *lo = 0, *hi = 255;
      return;
    case DType::kBool:
      *lo = 0, *hi = 1;
      return;
    case DType::kInt32:
    case DType::kInt64:
      *lo = -100000, *hi = 100000;
      return;
    default:
      *lo = -300, *hi = 300;
  }
}

TEST(CudaElementwiseCast, EveryPairOddShapes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 1;
  for (DType from : kCastTypes)
    for (DType to : kCastTypes)
      for (const Dims& d : {Dims{1}, Dims{7}, Dims{1031}, Dims{3, 5, 7}, Dims{2, 1, 3, 1, 5}, Dims{4, 64}}) {
        SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to) + " " + dims_to_string(d));
        double lo, hi;
        range_for(from, &lo, &hi);
        expect_cuda_matches_reference(cast_node(to), {random_tensor(from, d, ++seed, lo, hi)});
      }
}

TEST(CudaElementwiseCast, NarrowingRoundsOnceAndSpecialValues) {
  KILN_REQUIRE_GPU();
  // Doubles and large int64 into float16/bfloat16: rounding must not go through a second rounding step.
  for (DType to : {DType::kFloat16, DType::kBFloat16, DType::kFloat32}) {
    expect_cuda_matches_reference(cast_node(to), {random_tensor(DType::kFloat64, {4099}, 5, -70000, 70000)});
    expect_cuda_matches_reference(cast_node(to), {random_tensor(DType::kInt64, {4099}, 6, -1e15, 1e15)});
  }
  Tensor f = random_tensor(DType::kFloat32, {16}, 7, -3, 3);
  f.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  f.data<float>()[1] = std::numeric_limits<float>::infinity();
  f.data<float>()[2] = -std::numeric_limits<float>::infinity();
  f.data<float>()[3] = 1e30f;
  f.data<float>()[4] = -0.0f;
  f.data<float>()[5] = 65520.f;  // rounds to inf in float16
  for (DType to : kCastTypes) {
    SCOPED_TRACE(std::string("special values -> ") + dtype_name(to));
    expect_cuda_matches_reference(cast_node(to), {f});
  }
}

TEST(CudaElementwiseCast, CastLikeTakesTargetFromSecondInput) {
  KILN_REQUIRE_GPU();
  for (DType to : {DType::kFloat16, DType::kInt32, DType::kBool}) {
    Node n = make_test_node(OpKind::kCastLike, 2, 1);
    n.opset = 19;
    expect_cuda_matches_reference(n, {random_tensor(DType::kFloat32, {33, 3}, 9, -50, 50), random_tensor(to, {1}, 10)},
                                  {1});
  }
}

}  // namespace
}  // namespace kiln::testing
