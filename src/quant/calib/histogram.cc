// TensorStats: the range and |x| histogram passes of calibration.
#include "quant/calib/histogram.h"

#include <algorithm>
#include <cmath>

namespace kiln::calib {

void TensorStats::observe_range(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!std::isfinite(v)) {
      ++nonfinite;
      continue;
    }
    if (!seen) {
      min = max = v;
      seen = true;
    }
    min = std::min<double>(min, v);
    max = std::max<double>(max, v);
  }
}

void TensorStats::observe_histogram(const float* x, int64_t n) {
  if (bins.empty()) bins.assign(kHistogramBins, 0.0);
  double a = amax();
  if (a <= 0) {
    for (int64_t i = 0; i < n; ++i)
      if (std::isfinite(x[i])) bins[0] += 1;
    return;
  }
  double inv = kHistogramBins / a;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!std::isfinite(v)) continue;
    int b = static_cast<int>(std::fabs(v) * inv);
    bins[std::min(b, kHistogramBins - 1)] += 1;  // |x| == amax (and values past pass 1's range) go to the last bin
  }
}

}  // namespace kiln::calib
