// Held-back / calibration split of the sample folders.
#include "quant/guard/split.h"

#include "quant/calib/collect.h"

namespace kiln::guard {

Result<SampleSplit> split_samples(const std::string& calib_dir, int calib_batches, int held_back) {
  if (held_back < 0)
    return invalid_argument("--accuracy-samples must be >= 0 (0: every 5th sample), got " + std::to_string(held_back));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> all, calib::list_sample_dirs(calib_dir, calib_batches));
  const int64_t n = static_cast<int64_t>(all.size());
  if (n < 2)
    return invalid_argument("calibration folder '" + calib_dir + "' has " + std::to_string(n) +
                            " sample: the accuracy guard needs at least 2 (samples to calibrate on, and samples held "
                            "back to measure on)");
  const int64_t held = held_back > 0 ? held_back : std::max<int64_t>(1, n / 5);
  if (held >= n)
    return invalid_argument("--accuracy-samples " + std::to_string(held) + " leaves no sample to calibrate on: '" +
                            calib_dir + "' has " + std::to_string(n) + " samples" +
                            (calib_batches > 0 ? " (--calib-batches " + std::to_string(calib_batches) + ")" : ""));
  SampleSplit s;
  for (int64_t i = 0; i < n; ++i) {
    const bool hold = (i + 1) * held / n > i * held / n;
    (hold ? s.held_back : s.calibration).push_back(all[i]);
  }
  return s;
}

}  // namespace kiln::guard
