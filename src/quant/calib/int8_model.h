// The implicit INT8 (and FP8) path: ONNX file + calibration (samples or cache) -> Q/DQ ONNX model bytes, for the
// builder
// (--precision int8), `kiln calibrate` and the accuracy guard (which emits the Q/DQ model many times, with some
// layers left in float, from one calibration).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "onnx/onnx-ml.pb.h"
#include "quant/calib/calib_cache.h"
#include "quant/calib/qdq_model.h"

namespace kiln::calib {

struct Int8Model {
  std::string qdq_bytes;  // serialized Q/DQ ModelProto (external data, if any, stays relative to the model's folder)
  CalibCache cache;
  bool calibrated = false;  // false: the cache came from options.calib_cache
  int quantized_ops = 0;    // Conv/MatMul/Gemm given int8 weights
  int quantized_tensors = 0;
  int folded_batch_norms = 0;
  int weight_qmax = 127;            // int8 weights lie in [-weight_qmax, weight_qmax]
  bool signed_activations = false;  // int8 activations (zero point - 128): --device cuda
  QdqFormat format = QdqFormat::kInt8;  // kFloat8E4M3FN for --precision fp8 (MatMul/Gemm only: fp8_targets)
};

// A calibrated model before Q/DQ insertion: the prepared (BatchNormalization-folded) float model, every op that can
// be quantized, and the scales of every tensor any of them needs.
struct CalibratedModel {
  onnx::ModelProto model;  // prepared, still float
  std::string base_dir;    // external data
  std::string origin;      // the ONNX file, for messages
  QuantTargets targets;    // all quantizable ops (no layer kept float)
  Int8Model summary;       // cache, calibrated, folded_batch_norms, weight_qmax; qdq_bytes empty
};

// 127, or 64 for --device cpu on a CPU whose oneDNN int8 kernels sum uint8*int8 pairs in saturating int16 (no
// VNNI: AVX2-only and AVX-512 without VNNI), where only weights within +-64 run on them exactly (ONNX Runtime's
// reduce_range for the same reason).
int weight_qmax_for(const BuildOptions& options);

// Reads and prepares `onnx_path`, then calibrates on options.calib_dir (or reads options.calib_cache when that file
// exists; writes it after calibrating when it does not). `calib_samples` non-empty: calibrate on exactly these
// sample folders (the accuracy guard's split). Uses calib_method, calib_percentile, calib_batches. Errors: neither
// calib_dir nor an existing calib_cache (naming the flags), a cache of another model, a model with nothing to
// quantize or already quantized, unreadable samples.
Result<CalibratedModel> calibrate_model(const std::string& onnx_path, const BuildOptions& options, bool progress = true,
                                        const std::vector<std::string>& calib_samples = {});

// The Q/DQ model of `m` with the layers (qdq_model.h layer_names) in `keep_float` left in float; `quantized_ops`
// (optional) gets the number of ops given int8 weights. Does not change `m`.
Result<std::string> qdq_model_bytes(const CalibratedModel& m, const std::set<std::string>& keep_float = {},
                                    int* quantized_ops = nullptr);

// Writes Q/DQ model bytes to `path` (--export-qdq).
Status write_qdq_model(const std::string& path, const std::string& bytes);

// calibrate_model + qdq_model_bytes (every layer int8), and options.export_qdq when set.
Result<Int8Model> make_int8_model(const std::string& onnx_path, const BuildOptions& options, bool progress = true);

}  // namespace kiln::calib
