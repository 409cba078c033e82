// Per-tensor activation statistics for calibration: the value range and a histogram of |x|.
#pragma once
#include <cstdint>
#include <vector>

namespace kiln::calib {

constexpr int kHistogramBins = 2048;

// Statistics of one tensor over all calibration samples. Pass 1 (observe_range) finds min/max; pass 2
// (observe_histogram) fills `bins` over [0, amax], amax = max(|min|, |max|) fixed after pass 1. Non-finite values
// are counted in `nonfinite` and left out of both.
struct TensorStats {
  double min = 0, max = 0;
  bool seen = false;
  int64_t nonfinite = 0;
  std::vector<double> bins;  // kHistogramBins counts of |x| once pass 2 has started

  void observe_range(const float* x, int64_t n);
  void observe_histogram(const float* x, int64_t n);
  double amax() const { return max > -min ? max : -min; }
  double bin_width() const { return amax() / kHistogramBins; }
};

}  // namespace kiln::calib
