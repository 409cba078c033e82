// GPU tests of the elementwise family's unary kernels (math, activations, Clip, Not, IsNaN/IsInf) against the
// reference backend.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/float_formats.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

const std::vector<Dims> kShapes = {{1}, {7}, {33}, {1031}, {3, 5, 7}, {2, 3, 4, 5}, {1, 2, 3, 4, 5}, {4, 1000}};
const std::vector<DType> kFloats = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};

void check_unary(OpKind op, DType dt, const Dims& dims, double lo, double hi, Attrs attrs = {}, uint64_t seed = 1) {
  SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(dt) + " " + dims_to_string(dims));
  Node n = make_test_node(op, 1, 1, std::move(attrs));
  n.opset = 18;
  expect_cuda_matches_reference(n, {random_tensor(dt, dims, seed, lo, hi)});
}

// A scalar tensor of dtype dt holding v (exact for the values used here).
Tensor scalar_of(DType dt, double v) {
  switch (dt) {
    case DType::kFloat16:
      return Tensor::scalar<uint16_t>(dt, float_to_half(static_cast<float>(v)));
    case DType::kBFloat16:
      return Tensor::scalar<uint16_t>(dt, float_to_bf16(static_cast<float>(v)));
    case DType::kInt32:
      return Tensor::scalar<int32_t>(dt, static_cast<int32_t>(v));
    case DType::kInt64:
      return Tensor::scalar<int64_t>(dt, static_cast<int64_t>(v));
    default:
      return Tensor::scalar<float>(DType::kFloat32, static_cast<float>(v));
  }
}

struct Range {
  OpKind op;
  double lo, hi;
};

TEST(CudaElementwiseUnary, FloatMathAllShapesAndDtypes) {
  KILN_REQUIRE_GPU();
  const std::vector<Range> ops = {
      {OpKind::kAbs, -3, 3},     {OpKind::kNeg, -3, 3},         {OpKind::kExp, -5, 5},      {OpKind::kLog, 0.05, 8},
      {OpKind::kSqrt, 0.01, 9},  {OpKind::kReciprocal, 0.2, 4}, {OpKind::kSin, -3, 3},      {OpKind::kCos, -3, 3},
      {OpKind::kTan, -1.2, 1.2}, {OpKind::kTanh, -4, 4},        {OpKind::kAsin, -0.9, 0.9}, {OpKind::kAcos, -0.9, 0.9},
      {OpKind::kAtan, -4, 4},    {OpKind::kSinh, -3, 3},        {OpKind::kCosh, -3, 3},     {OpKind::kAsinh, -4, 4},
      {OpKind::kAcosh, 1.1, 6},  {OpKind::kAtanh, -0.9, 0.9},   {OpKind::kErf, -3, 3},      {OpKind::kFloor, -9, 9},
      {OpKind::kCeil, -9, 9},    {OpKind::kRound, -9, 9},       {OpKind::kSign, -2, 2},
  };
  uint64_t seed = 100;
  for (const Range& r : ops)
    for (DType dt : kFloats)
      for (const Dims& d : kShapes) check_unary(r.op, dt, d, r.lo, r.hi, {}, ++seed);
}

TEST(CudaElementwiseUnary, ActivationsWithDefaultAttributes) {
  KILN_REQUIRE_GPU();
  const std::vector<OpKind> ops = {
      OpKind::kSigmoid,   OpKind::kRelu, OpKind::kLeakyRelu,       OpKind::kElu,      OpKind::kSelu,
      OpKind::kCelu,      OpKind::kGelu, OpKind::kSoftplus,        OpKind::kSoftsign, OpKind::kHardSigmoid,
      OpKind::kHardSwish, OpKind::kMish, OpKind::kThresholdedRelu, OpKind::kSwish};
  uint64_t seed = 500;
  for (OpKind op : ops)
    for (DType dt : kFloats)
      for (const Dims& d : kShapes) check_unary(op, dt, d, -6, 6, {}, ++seed);
}

TEST(CudaElementwiseUnary, ActivationsWithAttributes) {
  KILN_REQUIRE_GPU();
  auto with = [](std::initializer_list<std::pair<const char*, AttrValue>> kv) {
    Attrs a;
    for (const auto& [k, v] : kv) a.set(k, v);
    return a;
  };
  for (DType dt : kFloats) {
    check_unary(OpKind::kLeakyRelu, dt, {33, 7}, -3, 3, with({{"alpha", 0.3f}}), 1);
    check_unary(OpKind::kElu, dt, {1031}, -3, 3, with({{"alpha", 0.7f}}), 2);
    check_unary(OpKind::kSelu, dt, {2, 3, 4}, -3, 3, with({{"alpha", 1.5f}, {"gamma", 0.8f}}), 3);
    check_unary(OpKind::kCelu, dt, {7, 7}, -3, 3, with({{"alpha", 2.0f}}), 4);
    check_unary(OpKind::kHardSigmoid, dt, {1000}, -5, 5, with({{"alpha", 0.3f}, {"beta", 0.4f}}), 5);
    check_unary(OpKind::kThresholdedRelu, dt, {33}, -3, 3, with({{"alpha", 0.5f}}), 6);
    check_unary(OpKind::kGelu, dt, {3, 333}, -4, 4, with({{"approximate", std::string("tanh")}}), 7);
    check_unary(OpKind::kGelu, dt, {3, 333}, -4, 4, with({{"approximate", std::string("none")}}), 8);
    check_unary(OpKind::kSwish, dt, {5, 9}, -4, 4, with({{"alpha", 1.7f}}), 9);
  }
}

TEST(CudaElementwiseUnary, IntegerAbsNegSignRelu) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kAbs, OpKind::kNeg, OpKind::kSign, OpKind::kRelu})
    for (DType dt : {DType::kInt32, DType::kInt64})
      for (const Dims& d : kShapes) check_unary(op, dt, d, -1000, 1000, {}, 77);
}

TEST(CudaElementwiseUnary, ClipWithBoundsAsInputs) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 900;
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64}) {
    const bool is_int = dt == DType::kInt32 || dt == DType::kInt64;
    for (const Dims& d : {Dims{7}, Dims{1031}, Dims{2, 3, 4, 5}}) {
      const double lo = is_int ? -300 : -0.5, hi = is_int ? 200 : 0.25;
      Tensor x = random_tensor(dt, d, ++seed, is_int ? -1000 : -2, is_int ? 1000 : 2);
      Tensor tlo = scalar_of(dt, lo), thi = scalar_of(dt, hi);
      Node both = make_test_node(OpKind::kClip, 3, 1);
      both.opset = 13;
      expect_cuda_matches_reference(both, {x, tlo, thi}, {1, 2});
      Node only_min = make_test_node(OpKind::kClip, 2, 1);
      only_min.opset = 13;
      expect_cuda_matches_reference(only_min, {x, tlo}, {1});
      // Max without min: input 1 left out.
      Node only_max = make_test_node(OpKind::kClip, 3, 1);
      only_max.opset = 13;
      only_max.inputs[1] = "";
      expect_cuda_matches_reference(only_max, {x, Tensor(), thi}, {2});
      // Bounds as runtime inputs too.
      expect_cuda_matches_reference(both, {x, tlo, thi});
    }
  }
}

TEST(CudaElementwiseUnary, NotIsNaNIsInf) {
  KILN_REQUIRE_GPU();
  for (const Dims& d : kShapes) {
    Node n = make_test_node(OpKind::kNot, 1, 1);
    expect_cuda_matches_reference(n, {random_tensor(DType::kBool, d, 3)});
  }
  for (DType dt : kFloats) {
    // Plant NaN and +-inf through a float32 tensor cast on the host side of the test.
    Tensor f = random_tensor(DType::kFloat32, {4, 33}, 11, -3, 3);
    f.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
    f.data<float>()[5] = std::numeric_limits<float>::infinity();
    f.data<float>()[9] = -std::numeric_limits<float>::infinity();
    Tensor in = f;
    if (dt != DType::kFloat32) {
      Node cast = make_test_node(OpKind::kCast, 1, 1);
      Attrs a;
      a.set("to", static_cast<int64_t>(dt));
      cast.attrs = a;
      in = expect_cuda_matches_reference(cast, {f}).at(0);
    }
    expect_cuda_matches_reference(make_test_node(OpKind::kIsNaN, 1, 1), {in});
    expect_cuda_matches_reference(make_test_node(OpKind::kIsInf, 1, 1), {in});
    Attrs pos_only;
    pos_only.set("detect_negative", int64_t{0});
    expect_cuda_matches_reference(make_test_node(OpKind::kIsInf, 1, 1, pos_only), {in});
  }
}

}  // namespace
}  // namespace kiln::testing
