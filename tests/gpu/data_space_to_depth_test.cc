// GPU tests of the space-to-depth stem input path against the reference backend: the 6-D Transpose fast path
// ([N,C,H2,2,W2,2] perm (0,2,4,3,5,1)) and the constant Pad by rows (NCHW spatial + channel padding).
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tensor ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(DType::kInt64, {n}, v);
}

Node node(OpKind op, size_t in, Attrs a = {}, int opset = 18) {
  Node n = make_test_node(op, in, 1, std::move(a));
  n.opset = opset;
  return n;
}

TEST(CudaSpaceToDepthStem, TransposeFastPath) {
  KILN_REQUIRE_GPU();
  Attrs a;
  a.set("perm", std::vector<int64_t>{0, 2, 4, 3, 5, 1});
  // [N, C, H2, 2, W2, 2]: ResNet's padded stem input (C 4), 8-channel (C 2) and odd-channel rows, batch 1 (the
  // batch dim collapses away), and shapes where H2 or W2 is 1 (other collapses: the generic kernel).
  const std::vector<Dims> cases = {{2, 4, 115, 2, 115, 2}, {3, 2, 9, 2, 13, 2}, {1, 4, 7, 2, 5, 2}, {2, 3, 6, 2, 7, 2},
                                   {2, 1, 5, 2, 6, 2},     {2, 4, 1, 2, 6, 2},  {2, 4, 5, 2, 1, 2}, {2, 8, 3, 2, 3, 2}};
  uint64_t seed = 40;
  for (DType dt : {DType::kFloat16, DType::kFloat32, DType::kBFloat16, DType::kInt8, DType::kInt64})
    for (const Dims& d : cases) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + dims_to_string(d));
      expect_cuda_matches_reference(node(OpKind::kTranspose, 1, a), {random_tensor(dt, d, ++seed, -99, 99)});
    }
}

TEST(CudaSpaceToDepthStem, PadByRows) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 60;
  for (DType dt : {DType::kFloat16, DType::kFloat32, DType::kInt8, DType::kInt64}) {
    SCOPED_TRACE(dtype_name(dt));
    // The stem's Pad: channels 3 -> 4, spatial 3 before and 3 after (224 -> 230), scaled down.
    Tensor x = random_tensor(dt, {2, 3, 40, 37}, ++seed, -9, 9);
    expect_cuda_matches_reference(node(OpKind::kPad, 2), {x, ints({0, 0, 3, 3, 0, 1, 3, 4})}, {1});
    // Negative trailing pads crop; leading crops too; rows exactly a warp long.
    expect_cuda_matches_reference(node(OpKind::kPad, 2), {x, ints({0, 0, 1, -2, 0, 1, -1, -3})}, {1});
    expect_cuda_matches_reference(node(OpKind::kPad, 2), {x, ints({1, 0, 0, 0, 0, 2, 0, -5})}, {1});
    // A constant fill value and a rank-2 input with long rows.
    Tensor big = random_tensor(dt, {5, 1000}, ++seed, -9, 9);
    expect_cuda_matches_reference(node(OpKind::kPad, 2), {big, ints({2, 7, 1, 300})}, {1});
  }
  expect_cuda_matches_reference(node(OpKind::kPad, 3),
                                {random_tensor(DType::kFloat16, {1, 3, 33, 35}, 70), ints({0, 0, 3, 3, 0, 1, 3, 4}),
                                 Tensor::scalar<uint16_t>(DType::kFloat16, 0x3c00)},
                                {1, 2});
}

}  // namespace
}  // namespace kiln::testing
