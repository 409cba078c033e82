// kiln calibrate [CALIB_DIR] --model-repository DIR --model NAME: build a model's engine into its repository folder.
// The container image's build step (docs/deploy.md): reads NAME/VERSION/model.onnx, writes NAME/VERSION/model.kiln
// (which `kiln serve` then loads instead of compiling the ONNX model), and for --precision int8 calibrates on
// CALIB_DIR, keeping the calibration cache beside the engine (NAME/VERSION/calib.json) so a rebuild skips it.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "tools/kiln/calibrate_model.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

// The version folder: --model-version, else the highest numeric folder holding model.onnx.
Result<fs::path> version_dir(const fs::path& model_dir, const std::string& version) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return not_found("model folder " + model_dir.string() + " does not exist");
  if (!version.empty()) {
    if (version.find_first_not_of("0123456789") != std::string::npos)
      return invalid_argument("--model-version must be a number, got '" + version + "'");
    return model_dir / version;
  }
  long best = -1;
  for (const auto& e : fs::directory_iterator(model_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.empty() || n.size() > 18 || n.find_first_not_of("0123456789") != std::string::npos) continue;
    if (fs::is_regular_file(e.path() / "model.onnx")) best = std::max(best, std::stol(n));
  }
  if (best < 0) return not_found("no version folder with a model.onnx under " + model_dir.string());
  return model_dir / std::to_string(best);
}

}  // namespace

std::function<int()> add_calibrate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "calibrate",
      "MODEL.onnx --calib DIR -o CACHE.json: write an INT8 calibration cache (and --export-qdq the Q/DQ model); "
      "CALIB_DIR --model NAME: build a repository model's engine (INT8: calibrated on CALIB_DIR) into its folder");
  struct Args {
    std::string calib_dir, repository, model, version, calib_method;
    int calib_batches = 0;
    bool force = false;
    BuildFlags flags;
    CalibrateModelArgs cache_mode;  // MODEL.onnx --calib DIR -o CACHE.json (no --model): calibrate_model.h
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("calib_dir", a->calib_dir,
                  "With --model: calibration samples: one subfolder per sample, one <input name>.npy or .pb per "
                  "model input (needed for --precision int8). Without --model: MODEL.onnx to calibrate");
  cmd->add_option("--model-repository", a->repository, "Model repository (default /models)")->default_val("/models");
  cmd->add_option("--model", a->model,
                  "Model name: the folder under the repository (without it: kiln calibrate MODEL.onnx --calib DIR "
                  "-o CACHE.json writes a calibration cache)");
  cmd->add_option("--model-version", a->version, "Version folder (default: the highest one holding model.onnx)");
  cmd->add_option("--calib-method", a->calib_method, "minmax | entropy | percentile | mse (default mse)")
      ->check(CLI::IsMember({"minmax", "entropy", "percentile", "mse"}));
  cmd->add_option("--calib-batches", a->calib_batches, "Samples used, in name order (default all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--force", a->force, "Rebuild even when model.kiln is newer than model.onnx");
  a->flags.add_to(cmd, true);
  a->flags.add_guard_to(cmd);
  add_calibrate_model_options(cmd, &a->cache_mode);
  return [a]() {
    if (a->model.empty())
      return run_calibrate_model(a->calib_dir, a->cache_mode, a->calib_method, a->calib_batches, a->flags);
    auto opts = a->flags.to_options();
    if (!opts.ok()) return fail("calibrate", opts.status());
    if (a->model.empty() || a->model.find('/') != std::string::npos || a->model == "." || a->model == "..")
      return fail("calibrate", invalid_argument("--model must be a plain folder name, got '" + a->model + "'"));
    auto vdir = version_dir(fs::path(a->repository) / a->model, a->version);
    if (!vdir.ok()) return fail("calibrate", vdir.status());
    const fs::path onnx = *vdir / "model.onnx", engine_path = *vdir / "model.kiln";
    std::error_code ec;
    if (!fs::is_regular_file(onnx, ec)) return fail("calibrate", not_found(onnx.string() + " does not exist"));
    const bool int8 = opts->precision == "int8";
    if (int8 && a->calib_dir.empty())
      return fail("calibrate", invalid_argument("--precision int8 needs CALIB_DIR (calibration samples)"));
    if (!a->calib_dir.empty() && !fs::is_directory(a->calib_dir, ec))
      return fail("calibrate", not_found("calibration folder " + a->calib_dir + " does not exist"));
    if (!a->calib_dir.empty() && !int8)
      std::cerr << "kiln calibrate: note: precision " << opts->precision << " does not use the calibration samples\n";
    if (!a->force && fs::exists(engine_path, ec) && fs::last_write_time(engine_path, ec) > fs::last_write_time(onnx, ec)) {
      auto cached = Engine::load(engine_path.string());
      if (cached.ok() && (*cached)->info().precision == opts->precision) {
        std::cout << "Engine " << engine_path.string() << " is up to date (precision " << opts->precision
                  << "; --force rebuilds)\n";
        return 0;
      }
    }
    if (int8) {
      opts->calib_dir = a->calib_dir;
      opts->calib_cache = (*vdir / "calib.json").string();
      if (!a->calib_method.empty()) opts->calib_method = a->calib_method;
      opts->calib_batches = a->calib_batches;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto engine = Engine::build_from_onnx(onnx.string(), *opts);
    if (!engine.ok()) return fail("calibrate", engine.status());
    // Written beside the target, then renamed: a server polling the repository never sees half a file.
    const std::string tmp = engine_path.string() + ".tmp." + std::to_string(::getpid());
    Status st = (*engine)->save(tmp);
    if (st.ok() && std::rename(tmp.c_str(), engine_path.c_str()) != 0)
      st = internal_error("cannot rename " + tmp + " to " + engine_path.string());
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return fail("calibrate", st);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "Built " << engine_path.string() << " from " << onnx.string() << " in " << secs << " s: precision "
              << (*engine)->info().precision << ", backend " << (*engine)->info().backend << "\n";
    return 0;
  };
}

}  // namespace kiln::cli
