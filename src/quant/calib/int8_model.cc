// make_int8_model: fingerprint, prepare, calibrate or read the cache, insert Q/DQ, export.
#include "quant/calib/int8_model.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/cpu/onednn/common.h"
#include "onnx/onnx-ml.pb.h"
#include "quant/calib/collect.h"
#include "quant/calib/qdq_model.h"
#include "quant/calib/sha256.h"

namespace kiln::calib {

namespace fs = std::filesystem;

int weight_qmax_for(const BuildOptions& options) {
  const bool cpu = options.device == "cpu" && options.backend != "reference";
  return cpu && cpu::onednn::int8_pairs_saturate() ? cpu::onednn::kInt8SafeWeight : 127;
}

Result<Int8Model> make_int8_model(const std::string& onnx_path, const BuildOptions& options, bool progress) {
  std::error_code ec;
  const bool have_cache = !options.calib_cache.empty() && fs::is_regular_file(options.calib_cache, ec);
  if (options.calib_dir.empty() && !have_cache)
    return invalid_argument(options.calib_cache.empty()
                                ? "--precision int8 needs calibration: pass --calib DIR (one subfolder per sample "
                                  "with <input name>.npy or .pb) or --calib-cache FILE (from kiln calibrate)"
                                : "calibration cache '" + options.calib_cache +
                                      "' does not exist: pass --calib DIR to calibrate and write it");
  KILN_ASSIGN_OR_RETURN(Method method, parse_method(options.calib_method));
  if (!(options.calib_percentile > 0 && options.calib_percentile <= 100))
    return invalid_argument("--percentile must be in (0, 100], got " + std::to_string(options.calib_percentile));
  if (options.calib_batches < 0)
    return invalid_argument("--calib-batches must be >= 0, got " + std::to_string(options.calib_batches));

  std::ifstream f(onnx_path, std::ios::binary);
  if (!f) return not_found("cannot read model '" + onnx_path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return invalid_argument(onnx_path + ": not an ONNX model (protobuf parse failed)");
  const std::string base_dir = fs::path(onnx_path).parent_path().string();
  const std::string sha = sha256_hex(bytes);

  Int8Model r;
  auto folded = prepare_for_quantization(model, base_dir);
  if (!folded.ok()) return folded.status().with_context(onnx_path);
  r.folded_batch_norms = *folded;
  KILN_ASSIGN_OR_RETURN(QuantTargets targets, find_quant_targets(model, base_dir));
  if (targets.ops.empty())
    return failed_precondition(onnx_path + ": nothing to quantize: INT8 quantizes Conv, MatMul and Gemm whose weight "
                                           "is a float initializer, and this model has none");
  const std::vector<std::string> tensors = targets.tensors();
  if (have_cache) {
    KILN_ASSIGN_OR_RETURN(r.cache, read_cache(options.calib_cache));
    KILN_RETURN_IF_ERROR(check_cache_model(r.cache, sha, options.calib_cache, onnx_path));
    if (progress && !options.calib_dir.empty())
      std::fprintf(stderr, "calibrate: using the cache %s, not the samples in %s (remove it to recalibrate)\n",
                   options.calib_cache.c_str(), options.calib_dir.c_str());
  } else {
    CollectOptions co;
    co.method = method;
    co.percentile = options.calib_percentile;
    co.max_samples = options.calib_batches;
    co.progress = progress;
    KILN_ASSIGN_OR_RETURN(r.cache, collect_calibration(model, tensors, base_dir, onnx_path, options.calib_dir, co));
    r.cache.model_sha256 = sha;
    r.calibrated = true;
    if (!options.calib_cache.empty()) KILN_RETURN_IF_ERROR(write_cache(options.calib_cache, r.cache));
  }
  r.weight_qmax = weight_qmax_for(options);
  KILN_RETURN_IF_ERROR(insert_qdq(model, targets, r.cache, base_dir, r.weight_qmax).with_context(onnx_path));
  r.quantized_ops = static_cast<int>(targets.ops.size());
  r.quantized_tensors = static_cast<int>(tensors.size());
  if (!model.SerializeToString(&r.qdq_bytes)) return internal_error(onnx_path + ": cannot serialize the Q/DQ model");
  if (!options.export_qdq.empty()) {
    std::ofstream out(options.export_qdq, std::ios::binary | std::ios::trunc);
    out << r.qdq_bytes;
    out.close();
    if (!out) return not_found("cannot write the Q/DQ model to '" + options.export_qdq + "'");
  }
  return r;
}

}  // namespace kiln::calib
