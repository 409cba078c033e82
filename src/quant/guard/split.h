// The accuracy guard's split of the calibration samples into those that calibrate and those held back to measure.
#pragma once
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::guard {

struct SampleSplit {
  std::vector<std::string> calibration;  // sample folders, name order
  std::vector<std::string> held_back;
};

// The sample folders of `calib_dir` (the first `calib_batches` by name when > 0), split: `held_back` samples
// (0: n / 5, at least 1) spread evenly over the name order: sample i (0-based) of n is held back when
// floor((i + 1) * held / n) > floor(i * held / n), the last of each of `held` equal runs (the default holds back
// samples 4, 9, 14, ... when n is a multiple of 5). Held-back samples never calibrate. Errors: fewer than 2 samples, or held_back >= the sample count (each names the folder and counts).
Result<SampleSplit> split_samples(const std::string& calib_dir, int calib_batches, int held_back);

}  // namespace kiln::guard
