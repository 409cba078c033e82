// Calibration data collection: runs the FP32 model on Kiln's CPU engine over the sample folders and reduces every
// target tensor to a range (and a |x| histogram) per tensor, then to uint8 parameters with the chosen method.
#pragma once
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "onnx/onnx-ml.pb.h"
#include "quant/calib/calib_cache.h"
#include "quant/calib/calibrators.h"

namespace kiln::calib {

struct CollectOptions {
  Method method = Method::kMse;
  double percentile = 99.99;
  int max_samples = 0;     // 0: every sample folder
  // Non-empty: calibrate on exactly these sample folders instead of listing calib_dir (the accuracy guard keeps its
  // held-back samples out of calibration).
  std::vector<std::string> sample_dirs;
  bool progress = true;    // progress lines on stderr (samples done, time left), at most one a second
  int opt_level = 3;
};

// The sample folders of `dir` (one per sample), sorted by name, the first `max_samples` (0: all). Errors: `dir`
// missing or empty.
Result<std::vector<std::string>> list_sample_dirs(const std::string& dir, int max_samples);

// One sample's inputs: for each model input, <name>.npy or <name>.pb in `sample_dir` (or the name with characters
// other than letters, digits, '_', '-', '.' replaced by '_', as `kiln run --output-dir` writes them).
Result<NamedValues> load_sample(const std::string& sample_dir, const std::vector<TensorDesc>& inputs);

// Calibrates `tensors` of `model` (prepared by prepare_for_quantization): the model gets them as extra outputs, is
// built as an FP32 CPU engine and run on every sample (twice unless the method is min-max: range, then
// histogram). `base_dir`: external data; `origin`: the model's name in messages.
Result<CalibCache> collect_calibration(const onnx::ModelProto& model, const std::vector<std::string>& tensors,
                                       const std::string& base_dir, const std::string& origin,
                                       const std::string& calib_dir, const CollectOptions& options);

}  // namespace kiln::calib
