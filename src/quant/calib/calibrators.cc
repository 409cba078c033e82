// The min-max, entropy (KL), percentile and MSE calibrators and the uint8/int8 parameter rules.
#include "quant/calib/calibrators.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::calib {

Result<Method> parse_method(const std::string& name) {
  if (name.empty() || name == "mse") return Method::kMse;
  if (name == "entropy") return Method::kEntropy;
  if (name == "minmax") return Method::kMinMax;
  if (name == "percentile") return Method::kPercentile;
  return invalid_argument("unknown calibration method '" + name + "' (expected minmax|entropy|percentile|mse)");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::kMinMax: return "minmax";
    case Method::kEntropy: return "entropy";
    case Method::kPercentile: return "percentile";
    case Method::kMse: return "mse";
  }
  return "?";
}

namespace {

// Normalizes `h` to sum 1 and moves eps of mass onto its zero entries (taken evenly from the non-zero ones), so
// that the KL divergence stays finite. Returns false when `h` is all zero.
bool smooth_distribution(std::vector<double>& h) {
  double sum = 0;
  int64_t zeros = 0;
  for (double v : h) {
    sum += v;
    zeros += v == 0;
  }
  if (sum <= 0) return false;
  int64_t nonzeros = static_cast<int64_t>(h.size()) - zeros;
  const double eps = 1e-4;
  double eps_nonzero = zeros ? eps * zeros / nonzeros : 0;
  for (double& v : h) v = v == 0 ? eps : v / sum - eps_nonzero;
  return true;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] > 0 && q[i] > 0) kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

}  // namespace

double entropy_threshold(const std::vector<double>& bins, double width, int levels) {
  const int n = static_cast<int>(bins.size());
  if (n == 0 || levels <= 0) return n * width;
  double total = 0;
  for (double v : bins) total += v;
  if (total <= 0 || n <= levels) return n * width;
  std::vector<double> suffix(n + 1, 0.0);  // suffix[i] = sum of bins[i..n)
  for (int i = n - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + bins[i];
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = n;
  std::vector<double> p, q;
  for (int i = levels; i <= n; ++i) {
    if (suffix[i] == total) continue;  // nothing kept below the edge
    p.assign(bins.begin(), bins.begin() + i);
    p[i - 1] += suffix[i];  // outliers clip to the last kept bin
    // Quantize bins[0, i) into `levels` groups, then spread each group's mass evenly over its non-zero bins.
    q.assign(i, 0.0);
    for (int g = 0; g < levels; ++g) {
      int start = static_cast<int>(static_cast<int64_t>(g) * i / levels);
      int end = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int k = start; k < end; ++k) {
        mass += bins[k];
        nonzero += p[k] != 0;
      }
      if (nonzero == 0) continue;
      for (int k = start; k < end; ++k)
        if (p[k] != 0) q[k] = mass / nonzero;
    }
    if (!smooth_distribution(p) || !smooth_distribution(q)) continue;
    double kl = kl_divergence(p, q);
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * width;
}

double percentile_threshold(const std::vector<double>& bins, double width, double percentile) {
  const int n = static_cast<int>(bins.size());
  double total = 0;
  for (double v : bins) total += v;
  if (total <= 0 || percentile >= 100) return n * width;
  double target = total * std::max(percentile, 0.0) / 100.0, cum = 0;
  for (int i = 0; i < n; ++i) {
    cum += bins[i];
    if (cum >= target) return (i + 1) * width;
  }
  return n * width;
}

double mse_threshold(const std::vector<double>& bins, double width, int levels) {
  const int n = static_cast<int>(bins.size());
  double total = 0;
  for (double v : bins) total += v;
  if (total <= 0 || levels <= 0) return n * width;
  double best_err = std::numeric_limits<double>::infinity();
  int best_i = n;
  for (int i = 1; i <= n; ++i) {
    double t = i * width, step = t / levels, err = 0;
    for (int k = 0; k < n; ++k) {
      if (bins[k] == 0) continue;
      double center = (k + 0.5) * width;
      double e = center <= t ? step * step / 12.0 : (center - t) * (center - t);
      err += bins[k] * e;
    }
    if (err < best_err) {
      best_err = err;
      best_i = i;
    }
  }
  return best_i * width;
}

ActivationParams uint8_params(double lo, double hi) {
  ActivationParams p;
  p.lo = std::min(lo, 0.0);
  p.hi = std::max(hi, 0.0);
  double scale = (p.hi - p.lo) / 255.0;
  if (!(scale > 0) || !std::isfinite(scale) || static_cast<float>(scale) == 0.0f) {
    p.scale = 1.0f;
    p.zero_point = 0;
    return p;
  }
  p.scale = static_cast<float>(scale);
  p.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-p.lo / p.scale), 0.0, 255.0));
  return p;
}

ActivationParams activation_params(const TensorStats& stats, Method method, double percentile) {
  if (!stats.seen) return uint8_params(0, 0);
  if (method == Method::kMinMax || stats.bins.empty()) return uint8_params(stats.min, stats.max);
  const int levels = stats.min >= 0 ? 255 : 128;
  double t = 0;
  switch (method) {
    case Method::kEntropy: t = entropy_threshold(stats.bins, stats.bin_width(), levels); break;
    case Method::kPercentile: t = percentile_threshold(stats.bins, stats.bin_width(), percentile); break;
    case Method::kMse: t = mse_threshold(stats.bins, stats.bin_width(), levels); break;
    case Method::kMinMax: break;
  }
  return uint8_params(std::max(stats.min, -t), std::min(stats.max, t));
}

WeightQuant quantize_weight_per_channel(const float* w, const std::vector<int64_t>& dims, int axis, int qmax) {
  int64_t outer = 1, channels = dims[axis], inner = 1;
  for (int d = 0; d < axis; ++d) outer *= dims[d];
  for (size_t d = axis + 1; d < dims.size(); ++d) inner *= dims[d];
  WeightQuant r;
  r.scales.assign(channels, 0.0f);
  r.values.resize(outer * channels * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k)
        r.scales[c] = std::max(r.scales[c], std::fabs(w[(o * channels + c) * inner + k]));
  const float fq = static_cast<float>(qmax);
  for (float& s : r.scales) s = s > 0 && std::isfinite(s) ? s / fq : 1.0f;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t i = (o * channels + c) * inner + k;
        float q = std::nearbyint(w[i] / r.scales[c]);
        r.values[i] = static_cast<int8_t>(std::clamp(q, -fq, fq));
      }
  return r;
}

}  // namespace kiln::calib
