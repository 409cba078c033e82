// Tests of the math family's Reduce* kernels and their import normalizer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/reference/kernel.h"
#include "tests/ops/math_test_util.h"
#include "onnx/ops/normalize.h"


const double kInf = std::numeric_limits<double>::infinity();

Attrs keep(int64_t k) {
  Attrs a;
  a.set("keepdims", k);
  return a;
}

TEST(MathReduce, SumAxesKeepdimsNegative) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_op(OpKind::kReduceSum, {x, i64({1}, {-1})}, keep(1));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{2, 1}));
  expect_near_all(r->at(0), {6, 15});
  auto r0 = run_op(OpKind::kReduceSum, {x, i64({1}, {0})}, keep(0));
  ASSERT_TRUE(r0.ok());
  EXPECT_EQ(r0->at(0).dims(), (Dims{3}));
  expect_near_all(r0->at(0), {5, 7, 9});
  auto all = run_op(OpKind::kReduceSum, {x, Tensor()}, keep(0));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->at(0).rank(), 0u);
  expect_near_all(all->at(0), {21});
}

TEST(MathReduce, NoopWithEmptyAxes) {
  Attrs a;
  a.set("noop_with_empty_axes", int64_t{1});
  auto r = run_op(OpKind::kReduceSum, {f32({2}, {1, 2}), i64({0}, {})}, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at(0).dims(), (Dims{2}));
  expect_near_all(r->at(0), {1, 2});
}

TEST(MathReduce, EmptySetGivesIdentity) {
  Tensor x = f32({2, 0, 3}, {});
  Tensor ax = i64({1}, {1});
  struct Case {
    OpKind op;
    double expect;
  };
  for (Case c :
       {Case{OpKind::kReduceSum, 0}, Case{OpKind::kReduceProd, 1}, Case{OpKind::kReduceMax, -kInf},
        Case{OpKind::kReduceMin, kInf}, Case{OpKind::kReduceL1, 0}, Case{OpKind::kReduceL2, 0},
        Case{OpKind::kReduceLogSum, -kInf}, Case{OpKind::kReduceLogSumExp, -kInf}, Case{OpKind::kReduceSumSquare, 0}}) {
    auto r = run_op(c.op, {x, ax}, keep(1));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->at(0).dims(), (Dims{2, 1, 3}));
    expect_near_all(r->at(0), std::vector<double>(6, c.expect));
  }
}

TEST(MathReduce, OtherOps) {
  Tensor x = f32({2, 2}, {1, -2, 3, 4});
  Tensor ax = i64({1}, {1});
  auto run = [&](OpKind op) { return run_op(op, {x, ax}, keep(0)); };
  expect_near_all(run(OpKind::kReduceL1)->at(0), {3, 7});
  expect_near_all(run(OpKind::kReduceL2)->at(0), {std::sqrt(5.0), 5});
  expect_near_all(run(OpKind::kReduceSumSquare)->at(0), {5, 25});
  expect_near_all(run(OpKind::kReduceMean)->at(0), {-0.5, 3.5});
  expect_near_all(run(OpKind::kReduceProd)->at(0), {-2, 12});
  expect_near_all(run(OpKind::kReduceMax)->at(0), {1, 4});
  expect_near_all(run(OpKind::kReduceMin)->at(0), {-2, 3});
  expect_near_all(run(OpKind::kReduceLogSumExp)->at(0),
                  {std::log(std::exp(1.0) + std::exp(-2.0)), std::log(std::exp(3.0) + std::exp(4.0))});
  auto ls = run_op(OpKind::kReduceLogSum, {f32({2}, {1, 2}), Tensor()}, keep(0));
  expect_near_all(ls->at(0), {std::log(3.0)});
}

TEST(MathReduce, IntegerAndBool) {
  auto s = run_op(OpKind::kReduceSum, {i64({3}, {int64_t{1} << 60, int64_t{1} << 60, 5}), Tensor()}, keep(0));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->at(0).data<int64_t>()[0], (int64_t{1} << 61) + 5);
  Tensor b = Tensor::from_vector<uint8_t>(DType::kBool, {2, 2}, {1, 0, 0, 0});
  auto mx = run_op(OpKind::kReduceMax, {b, i64({1}, {1})}, keep(0));
  ASSERT_TRUE(mx.ok()) << mx.status().message();
  EXPECT_EQ(mx->at(0).dtype(), DType::kBool);
  expect_near_all(mx->at(0), {1, 0});
  auto mn = run_op(OpKind::kReduceMin, {b, i64({1}, {0})}, keep(1));
  expect_near_all(mn->at(0), {0, 0});
  EXPECT_FALSE(run_op(OpKind::kReduceSum, {b, Tensor()}).ok());
}

TEST(MathReduce, BadAxes) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_FALSE(run_op(OpKind::kReduceSum, {x, i64({1}, {2})}).ok());
  EXPECT_FALSE(run_op(OpKind::kReduceMean, {x, i64({2}, {0, -2})}).ok());
  EXPECT_FALSE(run_op(OpKind::kReduceMax, {x, f32({1}, {0})}).ok());
}

TEST(MathReduce, NormalizerMovesAxesAttribute) {
  kiln::Graph g;
  kiln::Node n;
  n.op = OpKind::kReduceMean;
  n.name = "r";
  n.inputs = {"x"};
  n.outputs = {"y"};
  n.attrs.set("axes", std::vector<int64_t>{0, -1});
  n.opset = 13;
  kiln::NormalizeContext ctx{g, n, 13};
  auto fn = kiln::normalize_registry().find(OpKind::kReduceMean);
  ASSERT_NE(fn, nullptr);
  ASSERT_TRUE(fn(ctx).ok());
  EXPECT_FALSE(n.attrs.has("axes"));
  ASSERT_EQ(n.inputs.size(), 2u);
  ASSERT_TRUE(g.initializers.count(n.inputs[1]));
  EXPECT_EQ(values_of(g.initializers[n.inputs[1]]), (std::vector<double>{0, -1}));
  // Opset 18 nodes are already canonical.
  kiln::Node m = n;
  m.inputs = {"x"};
  m.attrs.set("axes", std::vector<int64_t>{0});
  kiln::NormalizeContext ctx18{g, m, 18};
  ASSERT_TRUE(fn(ctx18).ok());
  EXPECT_EQ(m.inputs.size(), 1u);
}
