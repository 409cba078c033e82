// make_int8_model: fingerprint, prepare, calibrate or read the cache, insert Q/DQ, export.
#include "quant/calib/int8_model.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/cpu/onednn/common.h"
#include "quant/calib/collect.h"
#include "quant/calib/sha256.h"

namespace kiln::calib {

namespace fs = std::filesystem;

int weight_qmax_for(const BuildOptions& options) {
  const bool cpu = options.device == "cpu" && options.backend != "reference";
  return cpu && cpu::onednn::int8_pairs_saturate() ? cpu::onednn::kInt8SafeWeight : 127;
}

Result<CalibratedModel> calibrate_model(const std::string& onnx_path, const BuildOptions& options, bool progress,
                                        const std::vector<std::string>& calib_samples) {
  std::error_code ec;
  const bool have_cache = !options.calib_cache.empty() && fs::is_regular_file(options.calib_cache, ec);
  if (options.calib_dir.empty() && !have_cache)
    return invalid_argument(options.calib_cache.empty()
                                ? "--precision " + options.precision +
                                      " needs calibration: pass --calib DIR (one subfolder per sample "
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
  CalibratedModel m;
  if (!m.model.ParseFromString(bytes))
    return invalid_argument(onnx_path + ": not an ONNX model (protobuf parse failed)");
  m.base_dir = fs::path(onnx_path).parent_path().string();
  m.origin = onnx_path;
  const std::string sha = sha256_hex(bytes);

  Int8Model& r = m.summary;
  auto folded = prepare_for_quantization(m.model, m.base_dir);
  if (!folded.ok()) return folded.status().with_context(onnx_path);
  r.folded_batch_norms = *folded;
  KILN_ASSIGN_OR_RETURN(m.targets, find_quant_targets(m.model, m.base_dir));
  if (m.targets.ops.empty())
    return failed_precondition(onnx_path + ": nothing to quantize: " +
                               (options.precision == "fp8" ? std::string("FP8 quantizes MatMul and Gemm")
                                                           : std::string("INT8 quantizes Conv, MatMul and Gemm")) +
                               " whose weight is a float initializer, and this model has none");
  const std::vector<std::string> tensors = m.targets.tensors();
  if (have_cache) {
    KILN_ASSIGN_OR_RETURN(r.cache, read_cache(options.calib_cache));
    KILN_RETURN_IF_ERROR(check_cache_model(r.cache, sha, options.calib_cache, onnx_path));
    if (progress && !options.calib_dir.empty() && calib_samples.empty())
      std::fprintf(stderr, "calibrate: using the cache %s, not the samples in %s (remove it to recalibrate)\n",
                   options.calib_cache.c_str(), options.calib_dir.c_str());
  } else {
    CollectOptions co;
    co.method = method;
    co.percentile = options.calib_percentile;
    co.max_samples = options.calib_batches;
    co.sample_dirs = calib_samples;
    co.progress = progress;
    KILN_ASSIGN_OR_RETURN(r.cache, collect_calibration(m.model, tensors, m.base_dir, onnx_path, options.calib_dir, co));
    r.cache.model_sha256 = sha;
    r.calibrated = true;
    if (!options.calib_cache.empty()) KILN_RETURN_IF_ERROR(write_cache(options.calib_cache, r.cache));
  }
  r.weight_qmax = weight_qmax_for(options);
  r.signed_activations = options.device == "cuda";
  r.format = options.precision == "fp8" ? QdqFormat::kFloat8E4M3FN : QdqFormat::kInt8;
  r.quantized_ops = static_cast<int>(m.targets.ops.size());
  r.quantized_tensors = static_cast<int>(tensors.size());
  return m;
}

Result<std::string> qdq_model_bytes(const CalibratedModel& m, const std::set<std::string>& keep_float,
                                    int* quantized_ops) {
  onnx::ModelProto model = m.model;
  QuantTargets targets = m.targets;
  if (!keep_float.empty()) {
    KILN_ASSIGN_OR_RETURN(targets, find_quant_targets(model, m.base_dir, keep_float));
  }
  if (m.summary.format == QdqFormat::kFloat8E4M3FN) {
    targets = fp8_targets(model, targets);
    if (targets.ops.empty())
      return failed_precondition(m.origin +
                                 ": nothing to quantize: FP8 quantizes MatMul and Gemm whose weight is a "
                                 "float [K, N] initializer with K and N multiples of 16, and this model "
                                 "has none");
  }
  KILN_RETURN_IF_ERROR(insert_qdq(model, targets, m.summary.cache, m.base_dir, m.summary.weight_qmax,
                                  m.summary.signed_activations, m.summary.format)
                           .with_context(m.origin));
  if (quantized_ops) *quantized_ops = static_cast<int>(targets.ops.size());
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return internal_error(m.origin + ": cannot serialize the Q/DQ model");
  return bytes;
}

Status write_qdq_model(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return not_found("cannot write the Q/DQ model to '" + path + "'");
  return ok_status();
}

Result<Int8Model> make_int8_model(const std::string& onnx_path, const BuildOptions& options, bool progress) {
  KILN_ASSIGN_OR_RETURN(CalibratedModel m, calibrate_model(onnx_path, options, progress));
  Int8Model r = m.summary;
  KILN_ASSIGN_OR_RETURN(r.qdq_bytes, qdq_model_bytes(m));
  if (!options.export_qdq.empty()) {
    // The FP8 Q/DQ model keeps the model's opset (>= 13), below the 19 that float8 Q/DQ need in ONNX: Kiln reads it,
    // other tools would refuse it.
    if (r.format == QdqFormat::kFloat8E4M3FN)
      return unimplemented("--export-qdq writes INT8 Q/DQ models; it is not available with --precision fp8");
    KILN_RETURN_IF_ERROR(write_qdq_model(options.export_qdq, r.qdq_bytes));
  }
  return r;
}

}  // namespace kiln::calib
