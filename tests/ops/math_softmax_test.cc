// Tests of the math family's Softmax/LogSoftmax/Hardmax and NegativeLogLikelihoodLoss/SoftmaxCrossEntropyLoss.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/reference/kernel.h"
#include "tests/ops/math_test_util.h"


Attrs axis_attr(int64_t a) {
  Attrs at;
  at.set("axis", a);
  return at;
}

TEST(MathSoftmax, AxisAndLegacyCoercion) {
  Tensor x = f32({2, 2}, {0, 0, 1, 1});
  // Opset 13 axis 0: columns [0,1] -> [1/(1+e), e/(1+e)].
  auto r = run_op(OpKind::kSoftmax, {x}, axis_attr(0), 13);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double p = 1.0 / (1.0 + std::exp(1.0));
  expect_near_all(r->at(0), {p, p, 1 - p, 1 - p});
  // Opset 11 axis 0: the whole tensor is one row of 4.
  auto legacy = run_op(OpKind::kSoftmax, {x}, axis_attr(0), 11);
  ASSERT_TRUE(legacy.ok());
  const double q = 1.0 / (2.0 + 2.0 * std::exp(1.0));
  expect_near_all(legacy->at(0), {q, q, q * std::exp(1.0), q * std::exp(1.0)});
  // Default axis: -1 at opset 13.
  auto d = run_op(OpKind::kSoftmax, {f32({1, 2}, {1000, 1000})}, {}, 13);
  expect_near_all(d->at(0), {0.5, 0.5});
  EXPECT_FALSE(run_op(OpKind::kSoftmax, {x}, axis_attr(2), 13).ok());
  EXPECT_FALSE(run_op(OpKind::kSoftmax, {i32({2}, {1, 2})}, {}, 13).ok());
}

TEST(MathSoftmax, LogSoftmaxAndHardmax) {
  auto l = run_op(OpKind::kLogSoftmax, {f32({3}, {1, 2, 3})}, {}, 13);
  ASSERT_TRUE(l.ok());
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  expect_near_all(l->at(0), {1 - lse, 2 - lse, 3 - lse});
  auto h = run_op(OpKind::kHardmax, {f32({2, 3}, {3, 1, 3, 0, 5, 2})}, axis_attr(-1), 13);
  ASSERT_TRUE(h.ok());
  expect_near_all(h->at(0), {1, 0, 0, 0, 1, 0});  // ties pick the first
  EXPECT_FALSE(run_op(OpKind::kHardmax, {f32({2}, {1, 2})}, axis_attr(-2), 13).ok());
}

Attrs loss_attrs(const std::string& reduction, bool with_ignore = false, int64_t ignore = 0) {
  Attrs a;
  a.set("reduction", reduction);
  if (with_ignore) a.set("ignore_index", ignore);
  return a;
}

TEST(MathLoss, NllReductionsWeightsIgnore) {
  Tensor x = f32({2, 3}, {-1, -2, -3, -4, -5, -6});
  Tensor t = i64({2}, {2, 0});
  Tensor w = f32({3}, {1, 2, 3});
  auto none = run_op(OpKind::kNegativeLogLikelihoodLoss, {x, t, w}, loss_attrs("none"));
  ASSERT_TRUE(none.ok()) << none.status().message();
  expect_near_all(none->at(0), {9, 4});
  auto mean = run_op(OpKind::kNegativeLogLikelihoodLoss, {x, t, w}, loss_attrs("mean"));
  expect_near_all(mean->at(0), {13.0 / 4.0});
  auto sum_ii = run_op(OpKind::kNegativeLogLikelihoodLoss, {x, t, Tensor()}, loss_attrs("sum", true, 0));
  expect_near_all(sum_ii->at(0), {3});
  auto mean_ii = run_op(OpKind::kNegativeLogLikelihoodLoss, {x, t}, loss_attrs("mean", true, 2));
  expect_near_all(mean_ii->at(0), {4});
  // [N, C, d1] layout.
  auto nd = run_op(OpKind::kNegativeLogLikelihoodLoss, {f32({1, 2, 2}, {-1, -2, -3, -4}), i64({1, 2}, {1, 0})},
                   loss_attrs("none"));
  ASSERT_TRUE(nd.ok());
  EXPECT_EQ(nd->at(0).dims(), (Dims{1, 2}));
  expect_near_all(nd->at(0), {3, 2});
  EXPECT_FALSE(run_op(OpKind::kNegativeLogLikelihoodLoss, {x, i64({2}, {3, 0})}).ok());
  EXPECT_FALSE(run_op(OpKind::kNegativeLogLikelihoodLoss, {x, i64({3}, {0, 0, 0})}).ok());
}

TEST(MathLoss, SoftmaxCrossEntropyWithLogProb) {
  Tensor x = f32({1, 2}, {0, 0});
  auto r = run_op(OpKind::kSoftmaxCrossEntropyLoss, {x, i64({1}, {1})}, loss_attrs("mean"), 13, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_near_all(r->at(0), {std::log(2.0)});
  EXPECT_EQ(r->at(1).dims(), (Dims{1, 2}));
  expect_near_all(r->at(1), {-std::log(2.0), -std::log(2.0)});
  EXPECT_FALSE(run_op(OpKind::kSoftmaxCrossEntropyLoss, {x, i64({1}, {1})}, loss_attrs("avg")).ok());
}
