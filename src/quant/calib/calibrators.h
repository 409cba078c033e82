// Calibrators: choose an activation's clip threshold from its statistics (min-max, entropy, percentile, MSE) and
// turn a range into uint8 quantization parameters; per-channel symmetric int8 weight quantization.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "quant/calib/histogram.h"

namespace kiln::calib {

enum class Method { kMinMax, kEntropy, kPercentile, kMse };

// "minmax" | "entropy" | "percentile" | "mse"; "" is mse (docs/int8.md says why). Anything else: invalid_argument naming the choices.
Result<Method> parse_method(const std::string& name);
const char* method_name(Method m);
// Whether the method needs the histogram pass (all but min-max).
inline bool needs_histogram(Method m) { return m != Method::kMinMax; }

// Clip thresholds T on |x| from a histogram of |x| (bins of width `width`, bin i = [i*width, (i+1)*width)).
// `levels`: quantization steps that cover [0, T] (255 for a non-negative tensor in uint8, 128 for a signed one).
// Each returns a T in (0, bins.size()*width]; an empty histogram returns bins.size()*width.
// Entropy: the T whose `levels`-step quantization of [0, T] (outliers merged into the last kept bin) has the
// smallest KL divergence from the reference distribution (TensorRT's method; T at a bin edge, >= `levels` bins).
double entropy_threshold(const std::vector<double>& bins, double width, int levels);
// Percentile: the smallest bin edge below which `percentile` % of the |x| values fall.
double percentile_threshold(const std::vector<double>& bins, double width, double percentile);
// MSE: the bin edge minimizing the expected squared error of quantizing with `levels` steps over [0, T]
// (rounding error step^2/12 inside, (|x| - T)^2 clipped outside).
double mse_threshold(const std::vector<double>& bins, double width, int levels);

// Per-tensor uint8 activation parameters: x ~ (q - zero_point) * scale. lo/hi: the calibrated range (it always
// contains 0, so that 0 is exact: zero_point = round(-lo / scale)).
struct ActivationParams {
  float scale = 1.0f;
  int32_t zero_point = 0;  // 0..255
  double lo = 0, hi = 0;
};
ActivationParams uint8_params(double lo, double hi);
// The calibrated range of one tensor: [min, max] for min-max; otherwise [max(min, -T), min(max, T)] with T the
// method's threshold on |x| (percentile in (0, 100]).
ActivationParams activation_params(const TensorStats& stats, Method method, double percentile);

// Symmetric per-channel int8 quantization of a float weight along `axis`: scale[c] = max|w_c| / qmax (1 for an
// all-zero channel), q = clamp(round(w / scale[c]), -qmax, qmax), zero point 0. qmax: 127, or 64 where the CPU's
// int8 kernels need a reduced range (weight_qmax_for).
struct WeightQuant {
  std::vector<float> scales;
  std::vector<int8_t> values;  // same element order as the weight
};
WeightQuant quantize_weight_per_channel(const float* w, const std::vector<int64_t>& dims, int axis, int qmax = 127);

}  // namespace kiln::calib
