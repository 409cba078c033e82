// Calibration cache JSON: writing, strict reading, and the model fingerprint check.
#include "quant/calib/calib_cache.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kiln::calib {

std::string cache_to_json(const CalibCache& cache) {
  nlohmann::ordered_json j;
  j["format"] = "kiln-calib";
  j["version"] = kCacheVersion;
  j["method"] = cache.method;
  if (cache.method == "percentile") j["percentile"] = cache.percentile;
  j["samples"] = cache.samples;
  j["model"] = cache.model_sha256;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  for (const auto& [name, r] : cache.tensors)
    tensors[name] = {{"scale", r.scale}, {"zero_point", r.zero_point}, {"min", r.min}, {"max", r.max}};
  j["tensors"] = std::move(tensors);
  return j.dump(1) + "\n";
}

Result<CalibCache> cache_from_json(const std::string& text, const std::string& origin) {
  auto bad = [&](const std::string& what) { return invalid_argument("calibration cache " + origin + ": " + what); };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("format") || j["format"] != "kiln-calib") return bad("\"format\" is not \"kiln-calib\"");
  if (!j.contains("version") || !j["version"].is_number_integer()) return bad("no integer \"version\"");
  if (j["version"].get<int64_t>() != kCacheVersion)
    return bad("version " + j["version"].dump() + " (this Kiln reads version " + std::to_string(kCacheVersion) +
               "): recalibrate");
  CalibCache c;
  if (!j.contains("model") || !j["model"].is_string()) return bad("no \"model\" fingerprint");
  c.model_sha256 = j["model"].get<std::string>();
  if (j.contains("method") && j["method"].is_string()) c.method = j["method"].get<std::string>();
  if (j.contains("percentile") && j["percentile"].is_number()) c.percentile = j["percentile"].get<double>();
  if (j.contains("samples") && j["samples"].is_number_integer()) c.samples = j["samples"].get<int>();
  if (!j.contains("tensors") || !j["tensors"].is_object()) return bad("no \"tensors\" object");
  for (const auto& [name, t] : j["tensors"].items()) {
    if (!t.is_object() || !t.contains("scale") || !t["scale"].is_number() || !t.contains("zero_point") ||
        !t["zero_point"].is_number_integer())
      return bad("tensor '" + name + "' needs a number \"scale\" and an integer \"zero_point\"");
    TensorRange r;
    double scale = t["scale"].get<double>();
    int64_t zp = t["zero_point"].get<int64_t>();
    if (!(scale > 0) || !std::isfinite(scale)) return bad("tensor '" + name + "': scale must be positive and finite");
    if (zp < 0 || zp > 255) return bad("tensor '" + name + "': zero_point " + std::to_string(zp) + " is not in 0..255");
    r.scale = static_cast<float>(scale);
    r.zero_point = static_cast<int32_t>(zp);
    r.min = t.contains("min") && t["min"].is_number() ? t["min"].get<double>() : (0 - zp) * scale;
    r.max = t.contains("max") && t["max"].is_number() ? t["max"].get<double>() : (255 - zp) * scale;
    c.tensors[name] = r;
  }
  return c;
}

Status write_cache(const std::string& path, const CalibCache& cache) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return not_found("cannot write calibration cache '" + path + "'");
  f << cache_to_json(cache);
  f.close();
  if (!f) return internal_error("writing calibration cache '" + path + "' failed");
  return ok_status();
}

Result<CalibCache> read_cache(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot read calibration cache '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return cache_from_json(ss.str(), "'" + path + "'");
}

Status check_cache_model(const CalibCache& cache, const std::string& model_sha256, const std::string& cache_path,
                         const std::string& model_path) {
  if (cache.model_sha256 == model_sha256) return ok_status();
  return failed_precondition("calibration cache '" + cache_path + "' was made for another model (sha256 " +
                             cache.model_sha256.substr(0, 12) + "..., '" + model_path + "' is " +
                             model_sha256.substr(0, 12) + "...): recalibrate with --calib DIR");
}

}  // namespace kiln::calib
