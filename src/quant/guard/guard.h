// The INT8 accuracy guard (--accuracy-budget; docs/int8.md, "Accuracy guard"): calibrates on part of the samples,
// measures INT8 against the FP32 engine on the held-back rest, ranks the quantized layers by sensitivity and moves
// the most sensitive ones back to FP32, in doubling groups then by bisection, until the budget holds.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kiln/engine.h"
#include "quant/calib/int8_model.h"

namespace kiln::guard {

// Checks the guard's options before any work: --accuracy-samples / --accuracy-report without --accuracy-budget,
// a budget without --precision int8 or without --calib, a budget that does not parse. OK when the guard is off.
Status check_guard_options(const BuildOptions& options);

struct GuardOutcome {
  calib::CalibratedModel calibrated;  // scales from the calibration samples only (or the cache)
  std::set<std::string> fp32_layers;  // the layers left in float
  std::string qdq_bytes;              // the final Q/DQ model
  // The engine of the final configuration, built with the build's options; its EngineInfo carries the result.
  std::shared_ptr<Engine> engine;
  std::string summary;                // "cosine(logits) 0.999123 >= 0.999 on 2 held-back samples, 5/6 layers int8"
};

// Runs the guard for `onnx_path` with the build's options (precision int8, calib_dir, accuracy_*; device and backend
// pick where the trial engines and the FP32 reference run). Prints one line per trial and a final line on stderr
// when `progress`; writes options.accuracy_report (also when the budget is not met) and options.export_qdq.
// Errors: bad options, too few samples, and a budget not met with at least one int8 layer (one line: the budget,
// the closest measured, what was tried).
Result<GuardOutcome> run_accuracy_guard(const std::string& onnx_path, const BuildOptions& options,
                                        bool progress = true);

}  // namespace kiln::guard
