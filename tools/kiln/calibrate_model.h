// `kiln calibrate MODEL.onnx --calib DIR -o cache.json [--export-qdq out.onnx]`: the calibration-cache mode of
// `kiln calibrate` (cmd_calibrate.cc dispatches here when no --model names a repository model).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "tools/kiln/cli_util.h"

namespace kiln::cli {

struct CalibrateModelArgs {
  std::string calib_dir, output, export_qdq;
  double percentile = 99.99;
};

// Adds --calib, -o/--output, --export-qdq and --percentile to `cmd`.
void add_calibrate_model_options(CLI::App* cmd, CalibrateModelArgs* args);

// Calibrates `model` on args.calib_dir with `method` ("" = mse) over `batches` samples (0 = all), writes the
// cache to args.output and, if asked, the Q/DQ model. `flags`: --device, --backend, shapes and the accuracy-guard
// flags; with --accuracy-budget the held-back samples stay out of the cache and the exported Q/DQ model keeps the
// guard's FP32 layers in float. Returns the exit code (errors: one line on stderr).
int run_calibrate_model(const std::string& model, const CalibrateModelArgs& args, const std::string& method,
                        int batches, const BuildFlags& flags);

}  // namespace kiln::cli
