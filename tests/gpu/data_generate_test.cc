// GPU tests of the data family's pad/generate/accumulate kernels against the reference backend: Pad (all
// modes), ConstantOfShape, Range, Trilu, EyeLike, OneHot, CumSum.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tensor ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(DType::kInt64, {n}, v);
}

Node node(OpKind op, size_t in, Attrs a = {}, int opset = 19) {
  Node n = make_test_node(op, in, 1, std::move(a));
  n.opset = opset;
  return n;
}

TEST(CudaDataGenerate, PadAllModes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kInt8})
    for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + mode);
      Attrs a;
      a.set("mode", std::string(mode));
      Tensor x = random_tensor(dt, {2, 3, 5, 7}, 1, -9, 9);
      expect_cuda_matches_reference(node(OpKind::kPad, 2, a), {x, ints({0, 1, 2, 3, 0, 2, 1, 4})}, {1});
      expect_cuda_matches_reference(node(OpKind::kPad, 2, a), {x, ints({0, 0, -1, 2, 0, 0, 1, -3})}, {1});
      // Axes input: pad only the last two dims.
      Node with_axes = node(OpKind::kPad, 4, a);
      with_axes.inputs[2] = "";
      expect_cuda_matches_reference(with_axes, {x, ints({2, 3, 4, 5}), Tensor(), ints({-2, -1})}, {1, 3});
      expect_cuda_matches_reference(node(OpKind::kPad, 2, a), {random_tensor(dt, {1031}, 2, -9, 9), ints({3, 5})});
      // Only the end of the last axis (channels-last channel padding: its own kernel in constant mode).
      expect_cuda_matches_reference(node(OpKind::kPad, 2, a), {x, ints({0, 0, 0, 0, 0, 0, 0, 5})}, {1});
      expect_cuda_matches_reference(node(OpKind::kPad, 2, a), {x, ints({0, 0, 0, 0, 0, 0, 0, 0})}, {1});
    }
  expect_cuda_matches_reference(node(OpKind::kPad, 3),
                                {random_tensor(DType::kFloat16, {2, 9, 9, 3}, 4), ints({0, 0, 0, 0, 0, 0, 0, 5}),
                                 Tensor::scalar<uint16_t>(DType::kFloat16, 0x3c00)},
                                {1, 2});
  Tensor fill = Tensor::scalar<float>(DType::kFloat32, 2.5f);
  expect_cuda_matches_reference(node(OpKind::kPad, 3),
                                {random_tensor(DType::kFloat32, {3, 4}, 3), ints({1, 2, 3, 4}), fill}, {1, 2});
}

TEST(CudaDataGenerate, ConstantOfShapeAndRange) {
  KILN_REQUIRE_GPU();
  expect_cuda_matches_reference(node(OpKind::kConstantOfShape, 1), {ints({3, 1031})}, {0});
  Attrs v;
  v.set("value", Tensor::from_vector<int64_t>(DType::kInt64, {1}, {-7}));
  expect_cuda_matches_reference(node(OpKind::kConstantOfShape, 1, v), {ints({2, 3, 5})});
  Attrs h;
  h.set("value", Tensor::from_vector<uint16_t>(DType::kFloat16, {1}, {0x3e00}));
  expect_cuda_matches_reference(node(OpKind::kConstantOfShape, 1, h), {ints({33})}, {0});

  expect_cuda_matches_reference(node(OpKind::kRange, 3), {Tensor::scalar<float>(DType::kFloat32, -3.5f),
                                                          Tensor::scalar<float>(DType::kFloat32, 100.f),
                                                          Tensor::scalar<float>(DType::kFloat32, 0.25f)});
  expect_cuda_matches_reference(
      node(OpKind::kRange, 3),
      {Tensor::scalar<int64_t>(DType::kInt64, 10), Tensor::scalar<int64_t>(DType::kInt64, -1000),
       Tensor::scalar<int64_t>(DType::kInt64, -7)},
      {0, 1, 2});
  expect_cuda_matches_reference(node(OpKind::kRange, 3),
                                {Tensor::scalar<int32_t>(DType::kInt32, 0), Tensor::scalar<int32_t>(DType::kInt32, 33),
                                 Tensor::scalar<int32_t>(DType::kInt32, 1)});
}

TEST(CudaDataGenerate, TriluAndEyeLike) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kBool})
    for (int64_t upper : {0, 1})
      for (int64_t k : {-2, 0, 3}) {
        Attrs a;
        a.set("upper", upper);
        Tensor x = random_tensor(dt, {2, 3, 7, 9}, 1, -9, 9);
        expect_cuda_matches_reference(node(OpKind::kTrilu, 2, a), {x, Tensor::scalar<int64_t>(DType::kInt64, k)}, {1});
        expect_cuda_matches_reference(node(OpKind::kTrilu, 1, a), {random_tensor(dt, {33, 5}, 2, -9, 9)});
      }
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kInt64})
    for (int64_t k : {-3, 0, 2}) {
      Attrs a;
      a.set("k", k);
      expect_cuda_matches_reference(node(OpKind::kEyeLike, 1, a), {random_tensor(dt, {7, 9}, 3, -9, 9)});
    }
  Attrs to_float;
  to_float.set("dtype", static_cast<int64_t>(DType::kFloat32));
  expect_cuda_matches_reference(node(OpKind::kEyeLike, 1, to_float), {random_tensor(DType::kInt64, {5, 5}, 4)});
}

TEST(CudaDataGenerate, OneHot) {
  KILN_REQUIRE_GPU();
  for (DType it : {DType::kInt64, DType::kInt32, DType::kFloat32})
    for (int64_t axis : {-1, 0, 1}) {
      Attrs a;
      a.set("axis", axis);
      Tensor idx = random_tensor(it, {3, 5}, 1, -10, 9);
      Tensor depth = Tensor::scalar<int64_t>(DType::kInt64, 10);
      Tensor values = Tensor::from_vector<float>(DType::kFloat32, {2}, {-1.f, 3.f});
      expect_cuda_matches_reference(node(OpKind::kOneHot, 3, a), {idx, depth, values}, {1, 2});
      Tensor ivalues = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {0, 1});
      expect_cuda_matches_reference(node(OpKind::kOneHot, 3, a), {idx, depth, ivalues}, {1, 2});
    }
}

TEST(CudaDataGenerate, CumSum) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64})
    for (int64_t axis : {0, 1, -1})
      for (int64_t exclusive : {0, 1})
        for (int64_t reverse : {0, 1}) {
          Attrs a;
          a.set("exclusive", exclusive);
          a.set("reverse", reverse);
          const bool is_int = dt == DType::kInt32 || dt == DType::kInt64;
          Tensor x = random_tensor(dt, {4, 33, 5}, 1, is_int ? -100 : -1, is_int ? 100 : 1);
          expect_cuda_matches_reference(node(OpKind::kCumSum, 2, a), {x, Tensor::scalar<int64_t>(DType::kInt64, axis)},
                                        {1});
        }
  expect_cuda_matches_reference(node(OpKind::kCumSum, 2),
                                {random_tensor(DType::kFloat32, {1031}, 2), Tensor::scalar<int32_t>(DType::kInt32, 0)});
}

}  // namespace
}  // namespace kiln::testing
