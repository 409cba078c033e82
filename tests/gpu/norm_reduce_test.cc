// GPU tests of the Reduce* ops and ArgMax/ArgMin against the reference backend.
#include <gtest/gtest.h>

#include "backends/cuda/norm/host_util.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

const OpKind kFloatReduces[] = {
    OpKind::kReduceL1,   OpKind::kReduceL2,  OpKind::kReduceLogSum, OpKind::kReduceLogSumExp, OpKind::kReduceMax,
    OpKind::kReduceMean, OpKind::kReduceMin, OpKind::kReduceProd,   OpKind::kReduceSum,       OpKind::kReduceSumSquare};

// Axes as input 1 (opset 18); `axes_runtime` feeds them as a runtime input instead of a weight.
void check_reduce(OpKind op, DType dt, const Dims& dims, const std::vector<int64_t>& axes, bool keepdims, uint64_t seed,
                  bool noop = false, bool axes_runtime = false) {
  Attrs a;
  a.set("keepdims", int64_t{keepdims});
  if (noop) a.set("noop_with_empty_axes", int64_t{1});
  Node n = make_test_node(op, 2, 1, a);
  n.opset = 18;
  // LogSum needs positive sums; Prod stays bounded with values near 1.
  double lo = -1.0, hi = 1.0;
  if (op == OpKind::kReduceLogSum || op == OpKind::kReduceProd) lo = 0.5, hi = 1.5;
  if (!is_float(dt)) lo = -5, hi = 5;
  std::vector<Tensor> in = {random_tensor(dt, dims, seed, lo, hi),
                            Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(axes.size())}, axes)};
  SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(dt) + " " + dims_to_string(dims) + " axes " +
               std::to_string(axes.size()) + (keepdims ? " keepdims" : "") + (noop ? " noop" : ""));
  Tolerance tol = default_tolerance(dt);
  if (dt == DType::kFloat32) tol = Tolerance{1e-4, 1e-5};  // float32 accumulation vs the reference's doubles
  if (dt == DType::kFloat16 || dt == DType::kBFloat16) tol.atol *= 4;
  expect_cuda_matches_reference(n, in, axes_runtime ? std::vector<size_t>{} : std::vector<size_t>{1}, &tol);
}

TEST(CudaNormReduce, EveryOpInnerAxis) {
  KILN_REQUIRE_GPU();
  for (OpKind op : kFloatReduces)
    for (int64_t len : {1, 7, 33, 768, 4097}) check_reduce(op, DType::kFloat32, {3, len}, {-1}, true, len);
}

TEST(CudaNormReduce, OuterAndMixedAxes) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax, OpKind::kReduceLogSumExp}) {
    for (bool keep : {false, true}) {
      check_reduce(op, DType::kFloat32, {33, 5, 7}, {0}, keep, 1);
      check_reduce(op, DType::kFloat32, {4, 5, 6, 7}, {1, 2}, keep, 2);
      check_reduce(op, DType::kFloat32, {4, 5, 6, 7}, {0, 2}, keep, 3);  // two separate reduced runs
      check_reduce(op, DType::kFloat32, {4, 5, 6, 7}, {1, 3}, keep, 4);
      check_reduce(op, DType::kFloat32, {4, 5, 6, 7}, {}, keep, 5);     // all axes
      check_reduce(op, DType::kFloat32, {2, 1, 300, 1}, {2}, keep, 6);  // size-1 dims around
      check_reduce(op, DType::kFloat32, {2, 50000}, {1}, keep, 7);
      check_reduce(op, DType::kFloat32, {5000, 3}, {0}, keep, 8);     // few long columns (split path)
      check_reduce(op, DType::kFloat32, {4, 300, 20}, {1}, keep, 9);  // long rows (block path)
    }
  }
}

TEST(CudaNormReduce, HalfTypes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat16, DType::kBFloat16})
    for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax, OpKind::kReduceMin,
                      OpKind::kReduceL2, OpKind::kReduceLogSumExp}) {
      check_reduce(op, dt, {8, 768}, {-1}, true, 11);
      check_reduce(op, dt, {8, 33, 5}, {1}, false, 12);
    }
}

TEST(CudaNormReduce, Integers) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kInt32, DType::kInt64})
    for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMax, OpKind::kReduceMin, OpKind::kReduceL1,
                      OpKind::kReduceSumSquare, OpKind::kReduceProd}) {
      check_reduce(op, dt, {6, 7}, {1}, true, 21);
      check_reduce(op, dt, {6, 7, 3}, {0, 2}, false, 22);
      if (op != OpKind::kReduceProd) check_reduce(op, dt, {300, 5}, {0}, true, 23);
    }
}

TEST(CudaNormReduce, NoopAndEmptyAxesAndRuntimeAxes) {
  KILN_REQUIRE_GPU();
  check_reduce(OpKind::kReduceSum, DType::kFloat32, {3, 4}, {}, true, 31, /*noop=*/true);
  check_reduce(OpKind::kReduceL2, DType::kFloat32, {3, 4}, {}, false, 32, /*noop=*/true);
  check_reduce(OpKind::kReduceMean, DType::kFloat32, {3, 4, 5}, {-2}, false, 33, false, /*axes_runtime=*/true);
}

TEST(CudaNormReduce, LegacyAxesAttribute) {
  KILN_REQUIRE_GPU();
  Attrs a;
  a.set("axes", std::vector<int64_t>{1});
  a.set("keepdims", int64_t{0});
  Node n = make_test_node(OpKind::kReduceMean, 1, 1, a);
  n.opset = 13;
  const Tolerance tol{1e-4, 1e-5};
  expect_cuda_matches_reference(n, {random_tensor(DType::kFloat32, {4, 9, 5}, 41)}, {}, &tol);
}

void check_arg(OpKind op, DType dt, const Dims& dims, int64_t axis, bool keepdims, bool last, uint64_t seed,
               double lo = -1.0, double hi = 1.0) {
  Attrs a;
  a.set("axis", axis);
  a.set("keepdims", int64_t{keepdims});
  a.set("select_last_index", int64_t{last});
  Node n = make_test_node(op, 1, 1, a);
  n.opset = 13;
  SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(dt) + " " + dims_to_string(dims) + " axis " +
               std::to_string(axis) + (last ? " last" : ""));
  expect_cuda_matches_reference(n, {random_tensor(dt, dims, seed, lo, hi)});
}

TEST(CudaNormArgReduce, AxesDtypesTies) {
  KILN_REQUIRE_GPU();
  for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin})
    for (bool last : {false, true}) {
      for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
        for (int64_t len : {1, 7, 33, 768, 4097}) check_arg(op, dt, {3, len}, -1, true, last, len);
      check_arg(op, DType::kFloat32, {5, 33, 4}, 1, false, last, 51);
      check_arg(op, DType::kInt32, {5, 40}, 1, true, last, 52, 0, 3);  // many ties
      check_arg(op, DType::kInt64, {40, 5}, 0, false, last, 53, 0, 3);
    }
}

// Host-only: the [outer, len, inner] / general run planning behind every reduction launch.
TEST(CudaNormReducePlan, MergesRunsAndDropsUnitDims) {
  using cuda::norm::plan_reduce_geometry;
  cuda::norm::ReduceGeometry g;
  ASSERT_TRUE(plan_reduce_geometry({4, 5, 6, 7}, {false, true, true, false}, &g));
  EXPECT_FALSE(g.general);
  EXPECT_EQ(g.outer, 4);
  EXPECT_EQ(g.len, 30);
  EXPECT_EQ(g.inner, 7);
  EXPECT_EQ(g.count, 30);
  EXPECT_EQ(g.out_numel, 28);

  ASSERT_TRUE(plan_reduce_geometry({2, 1, 300, 1}, {false, true, true, true}, &g));  // unit dims vanish
  EXPECT_FALSE(g.general);
  EXPECT_EQ(g.outer, 2);
  EXPECT_EQ(g.len, 300);
  EXPECT_EQ(g.inner, 1);

  ASSERT_TRUE(plan_reduce_geometry({3, 4}, {false, false}, &g));  // nothing reduced
  EXPECT_FALSE(g.general);
  EXPECT_EQ(g.len, 1);
  EXPECT_EQ(g.outer * g.inner, 12);
  EXPECT_EQ(g.count, 1);

  ASSERT_TRUE(plan_reduce_geometry({4, 5, 6, 7}, {true, false, true, false}, &g));  // two reduced runs
  EXPECT_TRUE(g.general);
  ASSERT_EQ(g.num_reduced, 2);
  ASSERT_EQ(g.num_kept, 2);
  EXPECT_EQ(g.red_size[0], 4);
  EXPECT_EQ(g.red_stride[0], 210);
  EXPECT_EQ(g.red_size[1], 6);
  EXPECT_EQ(g.red_stride[1], 7);
  EXPECT_EQ(g.kept_size[0], 5);
  EXPECT_EQ(g.kept_stride[0], 42);
  EXPECT_EQ(g.kept_size[1], 7);
  EXPECT_EQ(g.kept_stride[1], 1);
  EXPECT_EQ(g.count, 24);
  EXPECT_EQ(g.out_numel, 35);

  ASSERT_TRUE(plan_reduce_geometry({2, 0, 3}, {false, true, false}, &g));  // empty reduction
  EXPECT_EQ(g.count, 0);
  EXPECT_EQ(g.out_numel, 6);
}

}  // namespace
}  // namespace kiln::testing
