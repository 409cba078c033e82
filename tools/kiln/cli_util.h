// Helpers shared by the subcommands: shape flags, build flags, error printing.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "kiln/engine.h"

namespace kiln::cli {

// Parses "name:1x3x224x224,other:1x128". Each entry splits at its LAST ':' so names may contain ':' and '/'.
// "name:" or "name:scalar" is a rank-0 shape.
Result<std::map<std::string, Dims>> parse_shapes(const std::string& text);

// Build flags common to build/run/bench/conformance.
struct BuildFlags {
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string shapes;
  std::vector<std::string> min_shapes, opt_shapes, max_shapes;
  int opt_level = 3;
  int gpu = 0;
  std::string timing_cache;
  std::vector<int64_t> tune_batch_sizes;
  bool exact_gelu = false;
  bool exact_qdq = false;
  std::string int8_float = "fp16";
  std::vector<std::string> input_dtypes;  // --input-dtype NAME:TYPE
  std::vector<std::string> dump_ir;
  std::string backend;  // --backend (run/bench/conformance when they build from ONNX)
  int threads = 0;      // --threads: intra-op threads of CPU contexts (0: KILN_NUM_THREADS or the usable cores)
  // INT8 calibration (--calib, --calib-cache, --calib-method, --percentile, --calib-batches, --export-qdq).
  std::string calib_dir, calib_cache, calib_method, export_qdq;
  double calib_percentile = 99.99;
  int calib_batches = 0;
  // INT8 accuracy guard (--accuracy-budget, repeatable and joined with ','; --accuracy-samples; --accuracy-report).
  std::vector<std::string> accuracy_budget;
  int accuracy_samples = 0;
  std::string accuracy_report;
  void add_to(CLI::App* cmd, bool with_profiles);
  // --backend and --threads for the commands that run engines (run, bench, conformance).
  void add_runtime_to(CLI::App* cmd);
  // The calibration flags (build and calibrate); `with_cache`: --calib-cache (calibrate has -o instead).
  void add_calib_to(CLI::App* cmd, bool with_cache);
  // The accuracy-guard flags (build and calibrate).
  void add_guard_to(CLI::App* cmd);
  // Applies --threads to a new context.
  void configure(ExecutionContext& ctx) const {
    if (threads > 0) ctx.set_num_threads(threads);
  }
  Result<BuildOptions> to_options() const;
};

// Prints "kiln <cmd>: error: <message>" to stderr and returns 1.
int fail(const std::string& cmd, const Status& st);

// Loads an engine file or compiles an ONNX model.
Result<std::shared_ptr<Engine>> open_model(const std::string& path, const BuildOptions& options);

// Inputs from `--input NAME=FILE` specs (.npy, else a TensorProto / SequenceProto .pb by the engine input's kind).
// Errors name the spec or the input.
Result<NamedValues> load_input_files(const Engine& engine, const std::vector<std::string>& specs);

// Random inputs for every engine input, using `shapes` for dims the model leaves symbolic, then the first
// profile's opt shape, then `batch` for dim 0 and 1 elsewhere.
Result<NamedValues> make_random_inputs(const Engine& engine, const std::map<std::string, Dims>& shapes, int64_t batch,
                                       uint64_t seed);

}  // namespace kiln::cli
