// INT8 calibrators (src/quant/calib/calibrators.h) on known distributions, the uint8/int8 parameter rules and the
// SHA-256 model fingerprint.
#include "quant/calib/calibrators.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "quant/calib/sha256.h"

namespace kiln::calib {
namespace {

TensorStats stats_of(const std::vector<float>& x) {
  TensorStats s;
  s.observe_range(x.data(), static_cast<int64_t>(x.size()));
  s.observe_histogram(x.data(), static_cast<int64_t>(x.size()));
  return s;
}

std::vector<float> uniform(int n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  return x;
}

// N(0, 1) with 0.01% of the values replaced by outliers at +-40.
std::vector<float> gaussian_with_outliers(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  for (int i = 0; i < n; i += 10000) x[i] = (i / 10000) % 2 ? 40.0f : -40.0f;
  return x;
}

TEST(CalibCalibrators, MinMaxIsTheObservedRange) {
  auto s = stats_of(gaussian_with_outliers(200000, 1));
  ActivationParams p = activation_params(s, Method::kMinMax, 99.99);
  EXPECT_DOUBLE_EQ(p.lo, -40.0);
  EXPECT_DOUBLE_EQ(p.hi, 40.0);
  EXPECT_NEAR(p.scale, 80.0 / 255.0, 1e-6);
}

TEST(CalibCalibrators, OutliersAreClippedByHistogramMethods) {
  auto s = stats_of(gaussian_with_outliers(200000, 2));
  for (Method m : {Method::kEntropy, Method::kPercentile}) {
    ActivationParams p = activation_params(s, m, 99.9);
    EXPECT_LT(p.hi, 20.0) << method_name(m);   // far below the outliers at 40
    EXPECT_GT(p.hi, 2.0) << method_name(m);    // but keeps the body of N(0, 1)
    EXPECT_NEAR(p.lo, -p.hi, 1e-9) << method_name(m);  // symmetric distribution: |x| threshold on both sides
  }
}

// MSE weighs each outlier by its squared clip error: 0.01% of values at 40 sigma cost more clipped than the
// coarser steps of keeping them (it keeps them); a single outlier in 400k does not (it is clipped).
TEST(CalibCalibrators, MseClipsOnlyWhenOutliersCostLessThanResolution) {
  auto many = stats_of(gaussian_with_outliers(200000, 5));
  EXPECT_GT(activation_params(many, Method::kMse, 99.99).hi, 30.0);
  std::vector<float> one = gaussian_with_outliers(400000, 6);
  for (size_t i = 1; i < one.size(); i += 10000) one[i - 1] = 0.0f;  // keep only ...
  one[0] = 40.0f;                                                     // ... one outlier
  auto s = stats_of(one);
  ActivationParams p = activation_params(s, Method::kMse, 99.99);
  EXPECT_LT(p.hi, 20.0);
  EXPECT_GT(p.hi, 2.0);
}

TEST(CalibCalibrators, PercentileMatchesTheGaussianQuantile) {
  auto s = stats_of(gaussian_with_outliers(400000, 3));
  // 99% of |x| for N(0,1) lies below 2.576; the histogram bin width here is 40/2048 ~ 0.02.
  double t = percentile_threshold(s.bins, s.bin_width(), 99.0);
  EXPECT_NEAR(t, 2.576, 0.06);
}

TEST(CalibCalibrators, UniformKeepsNearlyTheWholeRange) {
  auto s = stats_of(uniform(200000, 0.0f, 6.0f, 4));
  EXPECT_GE(s.min, 0.0);
  for (Method m : {Method::kEntropy, Method::kMse}) {
    ActivationParams p = activation_params(s, m, 99.99);
    EXPECT_GT(p.hi, 5.4) << method_name(m);
    EXPECT_LE(p.hi, s.max + 1e-9) << method_name(m);
    EXPECT_EQ(p.zero_point, 0) << method_name(m);  // non-negative tensor: all 256 levels above 0
  }
  EXPECT_NEAR(activation_params(s, Method::kPercentile, 99.99).hi, 6.0, 0.01);
}

TEST(CalibCalibrators, ZeroIsExactlyRepresentable) {
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{{-1.3, 4.1}, {0.0, 2.0}, {-3.0, 0.0}, {0.5, 2.0}}) {
    ActivationParams p = uint8_params(lo, hi);
    EXPECT_GE(p.zero_point, 0);
    EXPECT_LE(p.zero_point, 255);
    EXPECT_LE(p.lo, 0.0);
    EXPECT_GE(p.hi, 0.0);
    // Quantizing 0 gives the zero point, which dequantizes to exactly 0.
    double q = std::nearbyint(0.0 / p.scale) + p.zero_point;
    EXPECT_EQ((q - p.zero_point) * p.scale, 0.0);
  }
  ActivationParams empty = uint8_params(0, 0);
  EXPECT_EQ(empty.scale, 1.0f);
  EXPECT_EQ(empty.zero_point, 0);
}

TEST(CalibCalibrators, NonFiniteValuesAreCountedNotBinned) {
  std::vector<float> x = {1.0f, -2.0f, NAN, INFINITY, 0.5f};
  auto s = stats_of(x);
  EXPECT_EQ(s.nonfinite, 2);
  EXPECT_DOUBLE_EQ(s.min, -2.0);
  EXPECT_DOUBLE_EQ(s.max, 1.0);
  double total = 0;
  for (double b : s.bins) total += b;
  EXPECT_EQ(total, 3.0);
}

TEST(CalibCalibrators, MethodNames) {
  EXPECT_EQ(*parse_method(""), Method::kMse);
  EXPECT_EQ(*parse_method("mse"), Method::kMse);
  auto bad = parse_method("kl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("minmax|entropy|percentile|mse"), std::string::npos);
}

TEST(CalibCalibrators, WeightsPerChannelSymmetric) {
  // [2, 3] weight quantized along axis 1 (per column) and along axis 0 (per row).
  std::vector<float> w = {1.0f, -0.5f, 0.0f, -2.0f, 0.25f, 0.0f};
  WeightQuant cols = quantize_weight_per_channel(w.data(), {2, 3}, 1);
  ASSERT_EQ(cols.scales.size(), 3u);
  EXPECT_FLOAT_EQ(cols.scales[0], 2.0f / 127);
  EXPECT_FLOAT_EQ(cols.scales[1], 0.5f / 127);
  EXPECT_FLOAT_EQ(cols.scales[2], 1.0f);  // all-zero column
  EXPECT_EQ(cols.values[3], -127);
  EXPECT_EQ(cols.values[1], -127);
  EXPECT_EQ(cols.values[0], 64);  // round(1.0 / (2/127)) = round(63.5) = 64 (half to even)
  WeightQuant rows = quantize_weight_per_channel(w.data(), {2, 3}, 0);
  ASSERT_EQ(rows.scales.size(), 2u);
  EXPECT_FLOAT_EQ(rows.scales[0], 1.0f / 127);
  EXPECT_EQ(rows.values[0], 127);
  EXPECT_EQ(rows.values[4], 16);  // 0.25 / (2/127) = 15.875
  // Reduced range (CPUs without VNNI): +-64.
  WeightQuant reduced = quantize_weight_per_channel(w.data(), {2, 3}, 1, 64);
  EXPECT_FLOAT_EQ(reduced.scales[0], 2.0f / 64);
  EXPECT_EQ(reduced.values[3], -64);
  EXPECT_EQ(reduced.values[0], 32);
  for (int8_t v : reduced.values) EXPECT_LE(std::abs(v), 64);
}

TEST(CalibSha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace kiln::calib
