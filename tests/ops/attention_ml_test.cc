// Tests of the attention family's ai.onnx.ml and ai.onnx.preview.training reference kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/reference/kernel.h"
#include "tests/ops/attention_test_util.h"

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

Tensor strings(Dims dims, const std::vector<std::string>& v) {
  Tensor t(DType::kString, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}

TEST(MlLabelEncoderKernel, StringToIntWithDefault) {
  Attrs a;
  a.set("keys_strings", std::vector<std::string>{"a", "b"});
  a.set("values_int64s", std::vector<int64_t>{7, 8});
  a.set("default_int64", int64_t{-5});
  auto r = run_op(OpKind::kMlLabelEncoder, {strings({3}, {"b", "z", "a"})}, a, 1, 4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt64);
  expect_values((*r)[0], {3}, {8, -5, 7});
}

TEST(MlLabelEncoderKernel, FloatToStringAndTensorAttrs) {
  Attrs a;
  a.set("keys_floats", std::vector<float>{1.5f, std::numeric_limits<float>::quiet_NaN()});
  a.set("values_strings", std::vector<std::string>{"x", "nan"});
  auto r = run_op(OpKind::kMlLabelEncoder, {f32({1, 3}, {std::nanf(""), 1.5f, 2})}, a, 1, 4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].dims(), (Dims{1, 3}));
  EXPECT_EQ((*r)[0].strings()[0], "nan");
  EXPECT_EQ((*r)[0].strings()[1], "x");
  EXPECT_EQ((*r)[0].strings()[2], "_Unused");
  // Tensor-typed keys (int64) and values (int32) with a tensor default.
  Attrs b;
  b.set("keys_tensor", i64({2}, {10, 20}));
  b.set("values_tensor", Tensor::from_vector<int32_t>(DType::kInt32, {2}, {1, 2}));
  b.set("default_tensor", Tensor::from_vector<int32_t>(DType::kInt32, {1}, {42}));
  auto r2 = run_op(OpKind::kMlLabelEncoder, {i64({3}, {20, 30, 10})}, b, 1, 4);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ((*r2)[0].dtype(), DType::kInt32);
  expect_values((*r2)[0], {3}, {2, 42, 1});
}

TEST(MlLabelEncoderKernel, Opset1ClassesStrings) {
  Attrs a;
  a.set("classes_strings", std::vector<std::string>{"a", "b"});
  auto r = run_op(OpKind::kMlLabelEncoder, {i64({2}, {1, 9})}, a, 1, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].strings()[0], "b");
  EXPECT_EQ((*r)[0].strings()[1], "_Unused");
}

TEST(MlLabelEncoderKernel, BadInputs) {
  Attrs a;
  a.set("keys_strings", std::vector<std::string>{"a", "b"});
  a.set("values_int64s", std::vector<int64_t>{7});
  EXPECT_FALSE(run_op(OpKind::kMlLabelEncoder, {strings({1}, {"a"})}, a, 1, 4).ok());
  Attrs b;
  b.set("keys_strings", std::vector<std::string>{"a"});
  b.set("values_int64s", std::vector<int64_t>{7});
  EXPECT_FALSE(run_op(OpKind::kMlLabelEncoder, {i64({1}, {1})}, b, 1, 4).ok());  // key type mismatch
}

// One split x0 <= 1: true -> leaf 0 (target 0, weight 5), false -> leaf 1 (target 1, weight 7).
Attrs one_split_v5(int64_t mode) {
  Attrs a;
  a.set("nodes_featureids", std::vector<int64_t>{0});
  a.set("nodes_modes", Tensor::from_vector<uint8_t>(DType::kUInt8, {1}, {static_cast<uint8_t>(mode)}));
  a.set("nodes_splits", f32({1}, {1}));
  a.set("nodes_truenodeids", std::vector<int64_t>{0});
  a.set("nodes_falsenodeids", std::vector<int64_t>{1});
  a.set("nodes_trueleafs", std::vector<int64_t>{1});
  a.set("nodes_falseleafs", std::vector<int64_t>{1});
  a.set("leaf_targetids", std::vector<int64_t>{0, 1});
  a.set("leaf_weights", f32({2}, {5, 7}));
  a.set("tree_roots", std::vector<int64_t>{0});
  a.set("n_targets", int64_t{2});
  return a;
}

TEST(MlTreeEnsembleKernel, SplitAndMembership) {
  auto r = run_op(OpKind::kMlTreeEnsemble, {f32({3, 1}, {0, 2, std::nanf("")})}, one_split_v5(0), 1, 5);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {3, 2}, {5, 0, 0, 7, 0, 7});
  Attrs m = one_split_v5(6);
  m.set("membership_values", f32({3}, {3, 4, std::nanf("")}));
  m.set("nodes_missing_value_tracks_true", std::vector<int64_t>{1});
  auto r2 = run_op(OpKind::kMlTreeEnsemble, {f32({3, 1}, {4, 1, std::nanf("")})}, m, 1, 5);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  expect_values((*r2)[0], {3, 2}, {5, 0, 0, 7, 5, 0});
}

TEST(MlTreeEnsembleKernel, BadInputs) {
  Attrs a = one_split_v5(0);
  a.set("nodes_featureids", std::vector<int64_t>{3});  // feature out of range
  EXPECT_FALSE(run_op(OpKind::kMlTreeEnsemble, {f32({1, 1}, {0})}, a, 1, 5).ok());
  Attrs b = one_split_v5(0);
  b.set("nodes_falsenodeids", std::vector<int64_t>{9});  // leaf index out of range
  EXPECT_FALSE(run_op(OpKind::kMlTreeEnsemble, {f32({1, 1}, {0})}, b, 1, 5).ok());
}

// The same tree in the opset 1-3 encoding: node 0 splits, nodes 1 (true) and 2 (false) are leaves.
Attrs one_split_legacy() {
  Attrs a;
  a.set("nodes_treeids", std::vector<int64_t>{0, 0, 0});
  a.set("nodes_nodeids", std::vector<int64_t>{0, 1, 2});
  a.set("nodes_featureids", std::vector<int64_t>{0, 0, 0});
  a.set("nodes_modes", std::vector<std::string>{"BRANCH_LEQ", "LEAF", "LEAF"});
  a.set("nodes_values", std::vector<float>{1, 0, 0});
  a.set("nodes_truenodeids", std::vector<int64_t>{1, 0, 0});
  a.set("nodes_falsenodeids", std::vector<int64_t>{2, 0, 0});
  return a;
}

TEST(MlTreeEnsembleRegressorKernel, SumWithBase) {
  Attrs a = one_split_legacy();
  a.set("target_treeids", std::vector<int64_t>{0, 0});
  a.set("target_nodeids", std::vector<int64_t>{1, 2});
  a.set("target_ids", std::vector<int64_t>{0, 0});
  a.set("target_weights", std::vector<float>{5, 7});
  a.set("base_values", std::vector<float>{1});
  a.set("n_targets", int64_t{1});
  auto r = run_op(OpKind::kMlTreeEnsembleRegressor, {f32({2, 1}, {0, 2})}, a, 1, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {2, 1}, {6, 8});
  a.set("target_nodeids", std::vector<int64_t>{1, 5});  // not a node
  EXPECT_FALSE(run_op(OpKind::kMlTreeEnsembleRegressor, {f32({2, 1}, {0, 2})}, a, 1, 3).ok());
}

TEST(MlTreeEnsembleClassifierKernel, LabelsAndScores) {
  Attrs a = one_split_legacy();
  a.set("class_treeids", std::vector<int64_t>{0, 0});
  a.set("class_nodeids", std::vector<int64_t>{1, 2});
  a.set("class_ids", std::vector<int64_t>{0, 1});
  a.set("class_weights", std::vector<float>{1, 1});
  a.set("classlabels_int64s", std::vector<int64_t>{10, 20});
  auto r = run_op(OpKind::kMlTreeEnsembleClassifier, {f32({2, 1}, {0, 2})}, a, 2, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {2}, {10, 20});
  expect_values((*r)[1], {2, 2}, {1, 0, 0, 1});
}

TEST(MlSimpleKernels, BinarizerAndArrayFeatureExtractor) {
  Attrs a;
  a.set("threshold", 0.5f);
  auto r = run_op(OpKind::kMlBinarizer, {f32({3}, {0.2f, 0.7f, 0.5f})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {3}, {0, 1, 0});
  auto e = run_op(OpKind::kMlArrayFeatureExtractor, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({2}, {2, 0})});
  ASSERT_TRUE(e.ok()) << e.status().message();
  expect_values((*e)[0], {2, 2}, {3, 1, 6, 4});
  auto e1 = run_op(OpKind::kMlArrayFeatureExtractor, {f32({3}, {1, 2, 3}), i64({1}, {1})});
  ASSERT_TRUE(e1.ok()) << e1.status().message();
  expect_values((*e1)[0], {1, 1}, {2});
  EXPECT_FALSE(run_op(OpKind::kMlArrayFeatureExtractor, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({1}, {3})}).ok());
}

TEST(MlSimpleKernels, NormalizerAndScaler) {
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"L1", {0.25, 0.75, -0.5, 0.5}},
      {"L2", {1 / std::sqrt(10.0), 3 / std::sqrt(10.0), -std::sqrt(0.5), std::sqrt(0.5)}},
      {"MAX", {1.0 / 3, 1, -1, 1}}};
  for (const auto& [norm, expect] : cases) {
    Attrs a;
    a.set("norm", norm);
    auto r = run_op(OpKind::kMlNormalizer, {f32({2, 2}, {1, 3, -2, 2})}, a);
    ASSERT_TRUE(r.ok()) << r.status().message();
    expect_values((*r)[0], {2, 2}, expect);
  }
  Attrs bad;
  bad.set("norm", std::string("L3"));
  EXPECT_FALSE(run_op(OpKind::kMlNormalizer, {f32({1, 2}, {1, 2})}, bad).ok());
  Attrs s;
  s.set("offset", std::vector<float>{1});
  s.set("scale", std::vector<float>{2, 3});
  auto r = run_op(OpKind::kMlScaler, {i64({2, 2}, {1, 2, 3, 4})}, s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat32);
  expect_values((*r)[0], {2, 2}, {0, 3, 4, 9});
  s.set("scale", std::vector<float>{2, 3, 4});
  EXPECT_FALSE(run_op(OpKind::kMlScaler, {i64({2, 2}, {1, 2, 3, 4})}, s).ok());
}

TEST(MlSimpleKernels, LinearRegressorAndClassifier) {
  Attrs a;
  a.set("coefficients", std::vector<float>{1, 2});
  a.set("intercepts", std::vector<float>{0.5f});
  auto r = run_op(OpKind::kMlLinearRegressor, {f32({2, 2}, {1, 1, 0, 2})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_values((*r)[0], {2, 1}, {3.5, 4.5});
  a.set("targets", int64_t{3});
  EXPECT_FALSE(run_op(OpKind::kMlLinearRegressor, {f32({1, 2}, {1, 1})}, a).ok());

  Attrs c;
  c.set("coefficients", std::vector<float>{1, 0, 0, 1});
  c.set("classlabels_strings", std::vector<std::string>{"cat", "dog"});
  auto rc = run_op(OpKind::kMlLinearClassifier, {f32({2, 2}, {3, 1, 0, 2})}, c, 2);
  ASSERT_TRUE(rc.ok()) << rc.status().message();
  EXPECT_EQ((*rc)[0].strings()[0], "cat");
  EXPECT_EQ((*rc)[0].strings()[1], "dog");
  expect_values((*rc)[1], {2, 2}, {3, 1, 0, 2});
  // One coefficient row with two int labels: scores [-s, s].
  Attrs b;
  b.set("coefficients", std::vector<float>{1});
  b.set("classlabels_ints", std::vector<int64_t>{0, 1});
  auto rb = run_op(OpKind::kMlLinearClassifier, {f32({2, 1}, {-2, 3})}, b, 2);
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  expect_values((*rb)[0], {2}, {0, 1});
  expect_values((*rb)[1], {2, 2}, {2, -2, -3, 3});
}

TEST(TrainingKernels, AdagradAdamMomentum) {
  const Tensor r = Tensor::scalar<float>(DType::kFloat32, 0.1f);
  const Tensor t0 = Tensor::scalar<int64_t>(DType::kInt64, 0);
  auto ag = run_op(OpKind::kTrainAdagrad, {r, t0, f32({1}, {1}), f32({1}, {1}), f32({1}, {0})}, {}, 2);
  ASSERT_TRUE(ag.ok()) << ag.status().message();
  expect_values((*ag)[0], {1}, {1 - 0.1 / (1 + 1e-6)});
  expect_values((*ag)[1], {1}, {1});

  auto ad = run_op(OpKind::kTrainAdam, {r, t0, f32({1}, {1}), f32({1}, {1}), f32({1}, {0}), f32({1}, {0})}, {}, 3);
  ASSERT_TRUE(ad.ok()) << ad.status().message();
  expect_values((*ad)[1], {1}, {0.1});
  expect_values((*ad)[2], {1}, {0.001});
  expect_values((*ad)[0], {1}, {1 - 0.1 * 0.1 / (std::sqrt(0.001) + 1e-6)});

  Attrs m;
  m.set("alpha", 0.9f);
  m.set("beta", 0.5f);
  m.set("mode", std::string("nesterov"));
  m.set("norm_coefficient", 0.0f);
  const Tensor t1 = Tensor::scalar<int64_t>(DType::kInt64, 1);
  auto mo = run_op(OpKind::kTrainMomentum, {r, t1, f32({1}, {1}), f32({1}, {2}), f32({1}, {1})}, m, 2);
  ASSERT_TRUE(mo.ok()) << mo.status().message();
  // v = 0.9 * 1 + 0.5 * 2 = 1.9; nesterov x = 1 - 0.1 * (2 + 0.9 * 1.9).
  expect_values((*mo)[1], {1}, {1.9});
  expect_values((*mo)[0], {1}, {1 - 0.1 * (2 + 0.9 * 1.9)});
  // Inputs that do not split into groups, and a state of the wrong shape.
  EXPECT_FALSE(run_op(OpKind::kTrainAdagrad, {r, t0, f32({1}, {1}), f32({1}, {1})}).ok());
  EXPECT_FALSE(run_op(OpKind::kTrainAdagrad, {r, t0, f32({1}, {1}), f32({1}, {1}), f32({2}, {0, 0})}, {}, 2).ok());
}

}  // namespace
