// The calibration cache: versioned JSON with one uint8 scale/zero point and range per activation tensor.
#pragma once
#include <map>
#include <string>

#include "kiln/status.h"

namespace kiln::calib {

constexpr int kCacheVersion = 1;

struct TensorRange {
  float scale = 1.0f;
  int32_t zero_point = 0;  // uint8
  double min = 0, max = 0;  // the calibrated (clipped) range, containing 0
};

// {"format": "kiln-calib", "version": 1, "method": ..., "percentile": ..., "samples": N, "model": <sha256 of the
// ONNX file's bytes>, "tensors": {name: {"scale", "zero_point", "min", "max"}}}. Tensor names are the ONNX model's.
struct CalibCache {
  std::string method;
  double percentile = 99.99;
  int samples = 0;
  std::string model_sha256;
  std::map<std::string, TensorRange> tensors;
};

std::string cache_to_json(const CalibCache& cache);
// Parses and checks a cache (format, version, scale > 0 and finite, zero point in 0..255). `origin` names the file.
Result<CalibCache> cache_from_json(const std::string& text, const std::string& origin);
Status write_cache(const std::string& path, const CalibCache& cache);
Result<CalibCache> read_cache(const std::string& path);
// failed_precondition unless the cache was made for the model with this SHA-256 (its message names both files).
Status check_cache_model(const CalibCache& cache, const std::string& model_sha256, const std::string& cache_path,
                         const std::string& model_path);

}  // namespace kiln::calib
