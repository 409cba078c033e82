// Tests of the attention family's RNN, GRU and LSTM reference kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/reference/kernel.h"
#include "tests/ops/attention_test_util.h"

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(RnnKernel, ForwardTwoSteps) {
  // hidden 1, input 1: h1 = tanh(0.5 * 1), h2 = tanh(0.5 * 1 + 1 * h1 + 0.25), bias Wb = 0.25 Rb = 0.
  auto r =
      run_op(OpKind::kRNN,
             {f32({2, 1, 1}, {1, 1}), f32({1, 1, 1}, {0.5f}), f32({1, 1, 1}, {1}), f32({1, 2}, {0.25f, 0})}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double h1 = std::tanh(0.75), h2 = std::tanh(0.75 + h1);
  expect_values((*r)[0], {2, 1, 1, 1}, {h1, h2});
  expect_values((*r)[1], {1, 1, 1}, {h2});
}

TEST(RnnKernel, ReverseAndSequenceLensAndAffine) {
  Attrs a;
  a.set("direction", std::string("reverse"));
  a.set("activations", std::vector<std::string>{"Affine"});
  a.set("activation_alpha", std::vector<float>{2.0f});
  a.set("activation_beta", std::vector<float>{1.0f});
  // Batch of 2 with lengths [1, 2]; W = 1, R = 0: h_t = 2 * x_t + 1.
  Tensor lens = Tensor::from_vector<int32_t>(DType::kInt32, {2}, {1, 2});
  auto r = run_op(OpKind::kRNN,
                  {f32({2, 2, 1}, {1, 2, 3, 4}), f32({1, 1, 1}, {1}), f32({1, 1, 1}, {0}), Tensor(), lens}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Y[t][0][b]: batch 0 only has t = 0; batch 1 runs t = 1 then t = 0, ending at t = 0.
  expect_values((*r)[0], {2, 1, 2, 1}, {3, 5, 0, 9});
  expect_values((*r)[1], {1, 2, 1}, {3, 5});
}

TEST(RnnKernel, BidirectionalBatchFirst) {
  Attrs a;
  a.set("direction", std::string("bidirectional"));
  a.set("layout", int64_t{1});
  a.set("activations", std::vector<std::string>{"Relu", "Relu"});
  // X [batch 1, seq 2, 1]; forward W = 1, backward W = 2, R = 1 for both.
  auto r = run_op(OpKind::kRNN, {f32({1, 2, 1}, {1, 2}), f32({2, 1, 1}, {1, 2}), f32({2, 1, 1}, {1, 1})}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // forward: h0 = 1, h1 = 2 + 1 = 3. backward: t1 = 4, t0 = 2 + 4 = 6. Y is [batch, seq, dirs, hidden].
  expect_values((*r)[0], {1, 2, 2, 1}, {1, 6, 3, 4});
  expect_values((*r)[1], {1, 2, 1}, {3, 6});
}

TEST(GruKernel, LinearBeforeReset) {
  // Zero weights: z = r = 0.5; Rbh = 1. Default: h~ = tanh(1); linear_before_reset: h~ = tanh(0.5 * 1).
  std::vector<float> b(6, 0.0f);
  b[5] = 1.0f;
  std::vector<Tensor> in = {f32({1, 1, 1}, {1}), f32({1, 3, 1}, {0, 0, 0}), f32({1, 3, 1}, {0, 0, 0}), f32({1, 6}, b)};
  auto r0 = run_op(OpKind::kGRU, in, {}, 2);
  ASSERT_TRUE(r0.ok()) << r0.status().message();
  expect_values((*r0)[1], {1, 1, 1}, {0.5 * std::tanh(1.0)});
  Attrs a;
  a.set("linear_before_reset", int64_t{1});
  auto r1 = run_op(OpKind::kGRU, in, a, 2);
  ASSERT_TRUE(r1.ok()) << r1.status().message();
  expect_values((*r1)[1], {1, 1, 1}, {0.5 * std::tanh(0.5)});
}

TEST(GruKernel, InitialState) {
  // Zero weights: H = 0.5 * 0 + 0.5 * h0.
  auto r = run_op(OpKind::kGRU,
                  {f32({1, 1, 1}, {1}), f32({1, 3, 1}, {0, 0, 0}), f32({1, 3, 1}, {0, 0, 0}), Tensor(), Tensor(),
                   f32({1, 1, 1}, {2})},
                  {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {1, 1, 1, 1}, {1.0});
}

TEST(LstmKernel, PeepholesAndCellState) {
  // Zero weights, initial_c = 1, P = [1, 1, 1]: i = f = sigmoid(1), g = 0, C = f, o = sigmoid(C), H = o * tanh(C).
  std::vector<Tensor> in = {
      f32({1, 1, 1}, {1}), f32({1, 4, 1}, {0, 0, 0, 0}), f32({1, 4, 1}, {0, 0, 0, 0}), Tensor(), Tensor(), Tensor(),
      f32({1, 1, 1}, {1}), f32({1, 3}, {1, 1, 1})};
  auto r = run_op(OpKind::kLSTM, in, {}, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double c = sigmoid(1.0), h = sigmoid(c) * std::tanh(c);
  expect_values((*r)[0], {1, 1, 1, 1}, {h});
  expect_values((*r)[2], {1, 1, 1}, {c});
  // input_forget couples f = 1 - i.
  Attrs a;
  a.set("input_forget", int64_t{1});
  auto r2 = run_op(OpKind::kLSTM, in, a, 3);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  expect_values((*r2)[2], {1, 1, 1}, {1.0 - sigmoid(1.0)});
}

TEST(LstmKernel, ClipBoundsActivationInputs) {
  Attrs a;
  a.set("clip", 0.5f);
  // Gate pre-activations are W * x = 10, clipped to 0.5: i = f = o = sigmoid(0.5), g = tanh(0.5).
  auto r = run_op(OpKind::kLSTM, {f32({1, 1, 1}, {1}), f32({1, 4, 1}, {10, 10, 10, 10}), f32({1, 4, 1}, {0, 0, 0, 0})},
                  a, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double c = sigmoid(0.5) * std::tanh(0.5);
  expect_values((*r)[2], {1, 1, 1}, {c});
  expect_values((*r)[1], {1, 1, 1}, {sigmoid(0.5) * std::tanh(c)});
}

TEST(RecurrentKernels, BadInputs) {
  // W with the wrong gate count.
  EXPECT_FALSE(run_op(OpKind::kGRU, {f32({1, 1, 1}, {1}), f32({1, 2, 1}, {0, 0}), f32({1, 3, 1}, {0, 0, 0})}).ok());
  // sequence_lens beyond the sequence length.
  EXPECT_FALSE(run_op(OpKind::kRNN, {f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1}), Tensor(),
                                     Tensor::from_vector<int32_t>(DType::kInt32, {1}, {3})})
                   .ok());
  // Unknown direction and activation.
  Attrs a;
  a.set("direction", std::string("sideways"));
  EXPECT_FALSE(run_op(OpKind::kRNN, {f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1})}, a).ok());
  Attrs b;
  b.set("activations", std::vector<std::string>{"Bogus"});
  EXPECT_FALSE(run_op(OpKind::kRNN, {f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1}), f32({1, 1, 1}, {1})}, b).ok());
  // X of rank 2.
  EXPECT_FALSE(
      run_op(OpKind::kLSTM, {f32({1, 1}, {1}), f32({1, 4, 1}, {0, 0, 0, 0}), f32({1, 4, 1}, {0, 0, 0, 0})}).ok());
}

}  // namespace
