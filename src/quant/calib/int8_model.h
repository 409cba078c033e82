// The implicit INT8 path: ONNX file + calibration (samples or cache) -> Q/DQ ONNX model bytes, for the builder
// (--precision int8) and `kiln calibrate`.
#pragma once
#include <string>

#include "kiln/engine.h"
#include "quant/calib/calib_cache.h"

namespace kiln::calib {

struct Int8Model {
  std::string qdq_bytes;   // serialized Q/DQ ModelProto (external data, if any, stays relative to the model's folder)
  CalibCache cache;
  bool calibrated = false;  // false: the cache came from options.calib_cache
  int quantized_ops = 0;    // Conv/MatMul/Gemm given int8 weights
  int quantized_tensors = 0;
  int folded_batch_norms = 0;
  int weight_qmax = 127;    // int8 weights lie in [-weight_qmax, weight_qmax]
};

// 127, or 64 for --device cpu on a CPU whose oneDNN int8 kernels sum uint8*int8 pairs in saturating int16 (no
// VNNI: AVX2-only and AVX-512 without VNNI), where only weights within +-64 run on them exactly (ONNX Runtime's
// reduce_range for the same reason).
int weight_qmax_for(const BuildOptions& options);

// Reads `onnx_path`, calibrates on options.calib_dir (or reads options.calib_cache when that file exists; writes
// it after calibrating when it does not), inserts Q/DQ and writes options.export_qdq when set. Uses calib_method,
// calib_percentile, calib_batches. Errors: neither calib_dir nor an existing calib_cache (naming the flags), a
// cache of another model, a model with nothing to quantize or already quantized, unreadable samples.
Result<Int8Model> make_int8_model(const std::string& onnx_path, const BuildOptions& options, bool progress = true);

}  // namespace kiln::calib
