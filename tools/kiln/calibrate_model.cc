// The calibration-cache mode of `kiln calibrate`: samples -> kiln-calib JSON (+ the Q/DQ model).
#include "tools/kiln/calibrate_model.h"

#include <chrono>
#include <filesystem>
#include <iostream>

#include "quant/calib/calib_cache.h"
#include "quant/calib/int8_model.h"
#include "quant/guard/guard.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {

void add_calibrate_model_options(CLI::App* cmd, CalibrateModelArgs* args) {
  cmd->add_option("--calib", args->calib_dir,
                  "Calibration samples: one subfolder per sample, one <input name>.npy or .pb per model input");
  cmd->add_option("-o,--output", args->output, "Calibration cache to write (JSON, kiln-calib v1)");
  cmd->add_option("--export-qdq", args->export_qdq, "Also write the calibrated Q/DQ model (ONNX) to this file");
  cmd->add_option("--percentile", args->percentile, "percentile method: % of |x| kept unclipped (default 99.99)")
      ->check(CLI::Range(0.0, 100.0));
}

int run_calibrate_model(const std::string& model, const CalibrateModelArgs& args, const std::string& method,
                        int batches, const BuildFlags& flags) {
  if (model.empty() || args.calib_dir.empty() || args.output.empty())
    return fail("calibrate", invalid_argument("expected kiln calibrate MODEL.onnx --calib DIR -o CACHE.json (or "
                                              "--model NAME to build a repository model)"));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec)) return fail("calibrate", not_found("model '" + model + "' does not exist"));
  // Always recalibrate: an existing cache file at -o is replaced, never reused.
  auto base = flags.to_options();
  if (!base.ok()) return fail("calibrate", base.status());
  BuildOptions o = *base;
  o.precision = "int8";
  o.calib_cache.clear();
  o.calib_dir = args.calib_dir;
  o.calib_method = method;
  o.calib_percentile = args.percentile;
  o.calib_batches = batches;
  o.export_qdq = args.export_qdq;
  auto t0 = std::chrono::steady_clock::now();
  if (!o.accuracy_budget.empty()) {
    auto g = guard::run_accuracy_guard(model, o);
    if (!g.ok()) return fail("calibrate", g.status());
    const calib::Int8Model& s = g->calibrated.summary;
    Status st = calib::write_cache(args.output, s.cache);
    if (!st.ok()) return fail("calibrate", st);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "Calibrated " << model << " on " << s.cache.samples << " samples (" << s.cache.method << ") in "
              << secs << " s: " << s.quantized_tensors << " activation scales; cache " << args.output
              << (args.export_qdq.empty() ? "" : ", Q/DQ model " + args.export_qdq) << "\n"
              << "Accuracy guard: " << g->summary << "\n";
    return 0;
  }
  auto r = calib::make_int8_model(model, o);
  if (!r.ok()) return fail("calibrate", r.status());
  Status st = calib::write_cache(args.output, r->cache);
  if (!st.ok()) return fail("calibrate", st);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "Calibrated " << model << " on " << r->cache.samples << " samples (" << r->cache.method << ") in "
            << secs << " s: " << r->quantized_tensors << " activation scales, " << r->quantized_ops
            << " ops with int8 weights in +-" << r->weight_qmax << (r->folded_batch_norms ? ", " + std::to_string(r->folded_batch_norms) +
                                                                        " BatchNormalization folded"
                                                                  : std::string())
            << "; cache " << args.output << (args.export_qdq.empty() ? "" : ", Q/DQ model " + args.export_qdq) << "\n";
  return 0;
}

}  // namespace kiln::cli
