// GPU tests of the elementwise family's binary kernels (arithmetic, comparisons, logic, bitwise, variadic
// Sum/Mean/Max/Min, PRelu, Where) against the reference backend, over every broadcasting path.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

// Same shape, scalar, per-last-dim vector, column, general broadcasts, rank 1..5.
const std::vector<std::pair<Dims, Dims>> kPairs = {
    {{7}, {7}},
    {{1031}, {1031}},
    {{3, 5, 7}, {3, 5, 7}},
    {{}, {4, 33}},
    {{2, 3, 4}, {1}},
    {{4, 33}, {33}},
    {{33}, {4, 33}},
    {{4, 33}, {4, 1}},
    {{2, 1, 5}, {3, 1}},
    {{1, 3, 1, 5}, {2, 1, 4, 1}},
    {{2, 3, 1, 4, 5}, {3, 2, 1, 5}},
};
const std::vector<DType> kNumeric = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64};

bool is_int(DType t) { return t == DType::kInt32 || t == DType::kInt64; }

void check_binary(OpKind op, DType dt, const Dims& a, const Dims& b, double alo, double ahi, double blo, double bhi,
                  Attrs attrs = {}, DType bt = DType::kUndefined, uint64_t seed = 1) {
  if (bt == DType::kUndefined) bt = dt;
  SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(dt) + "/" + dtype_name(bt) + " " + dims_to_string(a) +
               " x " + dims_to_string(b));
  Node n = make_test_node(op, 2, 1, std::move(attrs));
  n.opset = 18;
  expect_cuda_matches_reference(n, {random_tensor(dt, a, seed, alo, ahi), random_tensor(bt, b, seed + 7, blo, bhi)});
}

TEST(CudaElementwiseBinary, ArithmeticAllDtypesAndBroadcasts) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 10;
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax, OpKind::kMin})
    for (DType dt : kNumeric)
      for (const auto& [a, b] : kPairs) {
        if (is_int(dt))
          check_binary(op, dt, a, b, -1000, 1000, 1, 60, {}, dt, ++seed);
        else
          check_binary(op, dt, a, b, -3, 3, 0.5, 3, {}, dt, ++seed);
      }
}

TEST(CudaElementwiseBinary, IntegerDivisionAndModSigns) {
  KILN_REQUIRE_GPU();
  Attrs fmod1;
  fmod1.set("fmod", int64_t{1});
  for (DType dt : {DType::kInt32, DType::kInt64})
    for (const auto& [a, b] : kPairs) {
      check_binary(OpKind::kDiv, dt, a, b, -1000, 1000, -9, -1, {}, dt, 3);
      check_binary(OpKind::kMod, dt, a, b, -1000, 1000, 1, 9, {}, dt, 4);
      check_binary(OpKind::kMod, dt, a, b, -1000, 1000, -9, -2, {}, dt, 5);
      check_binary(OpKind::kMod, dt, a, b, -1000, 1000, -9, -2, fmod1, dt, 6);
    }
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (const auto& [a, b] : kPairs) check_binary(OpKind::kMod, dt, a, b, -10, 10, 0.5, 3, fmod1, dt, 7);
}

TEST(CudaElementwiseBinary, PowSameAndMixedExponentDtypes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (DType et : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kInt64})
      for (const auto& [a, b] : kPairs) check_binary(OpKind::kPow, dt, a, b, 0.5, 2, -2, 3, {}, et, 9);
  for (DType dt : {DType::kInt32, DType::kInt64})
    for (const auto& [a, b] : kPairs) check_binary(OpKind::kPow, dt, a, b, -6, 6, 0, 5, {}, dt, 10);
}

TEST(CudaElementwiseBinary, PReluSlopeBroadcastsToX) {
  KILN_REQUIRE_GPU();
  for (DType dt : kNumeric) {
    const double lo = is_int(dt) ? -100 : -3, hi = is_int(dt) ? 100 : 3;
    check_binary(OpKind::kPRelu, dt, {2, 3, 4, 5}, {3, 1, 1}, lo, hi, 0, 1, {}, dt, 1);
    check_binary(OpKind::kPRelu, dt, {2, 3, 4, 5}, {5}, lo, hi, 0, 1, {}, dt, 2);
    check_binary(OpKind::kPRelu, dt, {1031}, {1}, lo, hi, 0, 1, {}, dt, 3);
    check_binary(OpKind::kPRelu, dt, {7, 33}, {7, 33}, lo, hi, 0, 1, {}, dt, 4);
  }
}

TEST(CudaElementwiseBinary, ComparisonsProduceBool) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kEqual, OpKind::kLess, OpKind::kLessOrEqual, OpKind::kGreater, OpKind::kGreaterOrEqual})
    for (DType dt : kNumeric)
      for (const auto& [a, b] : kPairs) {
        // Small integer ranges so equal pairs occur; floats from a coarse grid via int-valued bounds.
        if (is_int(dt))
          check_binary(op, dt, a, b, -3, 3, -3, 3, {}, dt, 21);
        else
          check_binary(op, dt, a, b, -1, 1, -1, 1, {}, dt, 22);
      }
  for (const auto& [a, b] : kPairs) check_binary(OpKind::kEqual, DType::kBool, a, b, 0, 1, 0, 1, {}, DType::kBool, 23);
}

TEST(CudaElementwiseBinary, LogicAndBitwise) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kAnd, OpKind::kOr, OpKind::kXor})
    for (const auto& [a, b] : kPairs) check_binary(op, DType::kBool, a, b, 0, 1, 0, 1, {}, DType::kBool, 31);
  for (OpKind op : {OpKind::kBitwiseAnd, OpKind::kBitwiseOr, OpKind::kBitwiseXor})
    for (DType dt : {DType::kInt32, DType::kInt64})
      for (const auto& [a, b] : kPairs) check_binary(op, dt, a, b, -100000, 100000, -100000, 100000, {}, dt, 32);
}

TEST(CudaElementwiseBinary, VariadicSumMeanMaxMin) {
  KILN_REQUIRE_GPU();
  const std::vector<std::vector<Dims>> shape_sets = {
      {{7}, {7}, {7}},
      {{1031}},
      {{4, 33}, {33}, {4, 1}, {}},
      {{2, 1, 5}, {3, 1}, {2, 3, 5}},
      {{1, 3, 1, 5}, {2, 1, 4, 1}, {5}, {1, 1, 1, 1}},
  };
  uint64_t seed = 40;
  for (OpKind op : {OpKind::kSum, OpKind::kMean, OpKind::kMax, OpKind::kMin})
    for (DType dt : kNumeric) {
      if (is_int(dt) && (op == OpKind::kSum || op == OpKind::kMean)) continue;
      for (const auto& shapes : shape_sets) {
        SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(dt) + " with " + std::to_string(shapes.size()) +
                     " inputs");
        std::vector<Tensor> in;
        for (const Dims& d : shapes) in.push_back(random_tensor(dt, d, ++seed, -100, 100));
        Node n = make_test_node(op, in.size(), 1);
        n.opset = 13;
        expect_cuda_matches_reference(n, in);
      }
    }
}

TEST(CudaElementwiseBinary, ConstantOperands) {
  KILN_REQUIRE_GPU();
  Node n = make_test_node(OpKind::kMul, 2, 1);
  n.opset = 14;
  expect_cuda_matches_reference(
      n, {random_tensor(DType::kFloat16, {8, 64}, 1), random_tensor(DType::kFloat16, {64}, 2)}, {1});
  Node add = make_test_node(OpKind::kAdd, 2, 1);
  add.opset = 14;
  expect_cuda_matches_reference(add, {random_tensor(DType::kFloat32, {}, 3), random_tensor(DType::kFloat32, {3, 7}, 4)},
                                {0});
}

TEST(CudaElementwiseBinary, WhereAllElementSizesAndBroadcasts) {
  KILN_REQUIRE_GPU();
  const std::vector<std::vector<Dims>> sets = {
      {{7}, {7}, {7}},
      {{1031}, {1031}, {}},
      {{4, 33}, {33}, {4, 1}},
      {{2, 1, 5}, {3, 1}, {2, 3, 5}},
      {{1, 3, 1, 5, 1}, {2, 1, 4, 1, 3}, {1}},
  };
  uint64_t seed = 60;
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt64, DType::kInt32, DType::kInt8,
                   DType::kBool, DType::kFloat64})
    for (const auto& s : sets) {
      SCOPED_TRACE(std::string("Where ") + dtype_name(dt));
      Node n = make_test_node(OpKind::kWhere, 3, 1);
      n.opset = 16;
      expect_cuda_matches_reference(
          n, {random_tensor(DType::kBool, s[0], ++seed), random_tensor(dt, s[1], ++seed, -50, 50),
              random_tensor(dt, s[2], ++seed, -50, 50)});
    }
}

}  // namespace
}  // namespace kiln::testing
