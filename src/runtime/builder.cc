// The engine builder: options check, shape specialization, optimizer, precision, then the backend chain: the generic
// partitioner gives each node to a backend and each backend prepares its nodes (kernels, tactics) into the plan.
#include "runtime/builder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ir/shape_inference.h"
#include "onnx/importer.h"
#include "passes/pass.h"
#include "passes/pass_manager.h"
#include "passes/retype_inputs.h"
#include "quant/calib/int8_model.h"
#include "quant/guard/guard.h"
#include "quant/precision.h"
#include "runtime/backend.h"
#include "runtime/engine_access.h"
#include "runtime/format/engine_file.h"
#include "runtime/profiles.h"

namespace kiln {

namespace {

std::string host_description() {
  std::string cpu = "cpu";
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) cpu = "cpu:" + line.substr(p + 2);
      break;
    }
  }
  return cpu;
}

// `preferred` (the chain's first backend) decides what `best` means; without it (validation only) best stays best.
Result<std::string> resolve_precision(const BuildOptions& o, const Backend* preferred = nullptr) {
  const std::string& p = o.precision;
  if (p != "fp32" && p != "tf32" && p != "fp16" && p != "bf16" && p != "int8" && p != "fp8" && p != "best")
    return invalid_argument("unknown --precision '" + p + "' (expected fp32|tf32|fp16|bf16|int8|fp8|best)");
  // int8: calibrated Q/DQ (quant/calib/int8_model.h), compiled as fp32 graph whose Q/DQ patterns fold to int8 ops;
  // fp8 likewise with float8 e4m3fn Q/DQ around MatMul/Gemm (fold_qdq_fp8).
  if (p == "int8" || p == "fp8") {
    if (o.int8_float != "fp16" && o.int8_float != "fp32")
      return invalid_argument("unknown int8 float precision '" + o.int8_float + "' (expected fp16|fp32)");
    return p;
  }
  if (o.device == "cpu") {
    if (p == "best") return preferred ? preferred->best_precision() : std::string("fp32");
    if (p == "tf32") return invalid_argument("--precision tf32 is a GPU precision (use fp32 on --device cpu)");
    return p;
  }
  return p == "best" ? (preferred ? preferred->best_precision() : std::string("fp16")) : p;
}

// The backends that build this engine, most preferred first, the reference backend last: --backend NAME gives
// [NAME, reference]; otherwise the backends registered for --device.
Result<std::vector<const Backend*>> backend_chain(const BuildOptions& o) {
  std::vector<const Backend*> chain;
  if (!o.backend.empty()) {
    const Backend* b = find_backend(o.backend);
    if (!b) return invalid_argument("unknown --backend '" + o.backend + "' (this Kiln has: " + backend_names_string() + ")");
    chain.push_back(b);
  } else {
    if (o.device != "cpu" && o.device != "cuda")
      return invalid_argument("unknown --device '" + o.device + "' (expected cpu or cuda)");
    chain = backends_for_device(o.device);
    if (chain.empty())
      return unimplemented("--device " + o.device + ": this Kiln has no backend for it (it has: " +
                           backend_names_string() + "); build with --device cpu");
  }
  const Backend* ref = find_backend("reference");
  if (ref && std::find(chain.begin(), chain.end(), ref) == chain.end()) chain.push_back(ref);
  return chain;
}

// The options the chain implies: --backend NAME sets the device to NAME's.
Result<BuildOptions> effective_options(const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::vector<const Backend*> chain, backend_chain(options));
  BuildOptions o = options;
  o.device = chain.front()->device();
  return o;
}

// Partitions the graph over the chain and lets each backend that got nodes prepare them (the preferred one always).
Result<std::vector<NodePlan>> plan_graph(const std::shared_ptr<Graph>& graph, const std::vector<const Backend*>& chain,
                                         const BuildOptions& options, const std::vector<OptimizationProfile>& profiles,
                                         EngineInfo* info) {
  KILN_ASSIGN_OR_RETURN(std::vector<NodePlan> plans, partition_graph(*graph, chain));
  PlanRequest request;
  request.options = &options;
  request.profiles = &profiles;
  request.graph = graph;
  request.info = info;
  for (size_t k = 0; k < chain.size(); ++k) {
    bool used = k == 0;
    for (const auto& p : plans) used |= p.backend == chain[k]->name();
    if (used) KILN_RETURN_IF_ERROR(chain[k]->prepare(*graph, plans, request));
  }
  if (plans.size() != graph->nodes.size()) return internal_error("a backend's prepare changed the number of plans");
  return plans;
}

// With a single profile whose min == max for an input, that input's shape is fixed: write it into the graph so
// that shape subgraphs fold to constants.
Status specialize_fixed_shapes(Graph& g, const std::vector<OptimizationProfile>& profiles) {
  if (profiles.size() != 1) return ok_status();
  bool changed = false;
  for (auto& vi : g.inputs) {
    auto it = profiles[0].inputs.find(vi.name);
    if (it == profiles[0].inputs.end() || it->second.min != it->second.max) continue;
    Shape s;
    s.rank_known = true;
    for (int64_t d : it->second.min) s.dims.push_back(Dim::known(d));
    vi.type.shape = s;
    changed = true;
  }
  if (!changed) return ok_status();
  return infer_graph_types(g);
}

void dump_if_asked(const BuildOptions& o, const char* stage, const Graph& g) {
  for (const auto& pass : o.dump_ir_after)
    if (pass == stage || pass == "all") {
      std::cerr << "=== IR after " << stage << " ===\n" << print_graph(g);
      return;
    }
}

}  // namespace

Result<std::shared_ptr<Engine>> build_engine_from_graph(std::shared_ptr<Graph> graph, const BuildOptions& asked,
                                                        const std::string& source) {
  KILN_ASSIGN_OR_RETURN(std::vector<const Backend*> chain, backend_chain(asked));
  KILN_ASSIGN_OR_RETURN(BuildOptions options, effective_options(asked));
  KILN_ASSIGN_OR_RETURN(std::string precision, resolve_precision(options, chain.front()));
  dump_if_asked(options, "import", *graph);
  KILN_ASSIGN_OR_RETURN(std::vector<OptimizationProfile> profiles, make_profiles(*graph, options));
  KILN_RETURN_IF_ERROR(specialize_fixed_shapes(*graph, profiles));

  PassOptions po;
  po.opt_level = options.opt_level;
  po.device = options.device;
  po.exact_qdq = options.exact_qdq;
  po.backend_passes.emplace();
  for (const char* pass : {"layout_nhwc", "fuse_elementwise_chains", "fold_qdq", "fold_qdq_binary", "fold_qdq_fp8",
                           "fuse_qconv_add", "fuse_qmatmul_bias", "fuse_qmatmul_add",
                           "batch_norm_as_depthwise"})
    if (chain.front()->wants_pass(pass)) po.backend_passes->insert(pass);
  for (const auto& d : options.dump_ir_after)
    if (d != "import" && d != "precision" && d != "input_dtype" && d != "placement" && d != "fold_qdq_fp8_output" &&
        d != "fold_qdq_fp8_norm")
      po.dump_ir_after.push_back(d);
  KILN_RETURN_IF_ERROR(optimize_graph(*graph, po));

  // Backends that compute narrow floats as tensor dtypes (CUDA; the reference, which emulates them) get the graph
  // lowered; the CPU backend keeps float32 tensors and lets its convolutions and matmuls compute in bf16 where the
  // CPU has native bf16 dot products (docs/cpu-backend.md), so nothing falls back to the reference for a dtype.
  // INT8 on a GPU backend: the float layers between int8 ones run in float16 unless --int8-float fp32 (TensorRT's
  // --int8 --fp16); the reference backend, also lowering, keeps int8 engines' floats in float32 (it is the oracle).
  const bool int8_half =
      (precision == "int8" || precision == "fp8") && options.int8_float == "fp16" && options.device == "cuda";
  if ((precision == "fp16" || precision == "bf16" || int8_half) && chain.front()->wants_pass("precision_lowering")) {
    PrecisionOptions pr;
    pr.target = precision == "bf16" ? DType::kBFloat16 : DType::kFloat16;
    pr.approximate_gelu = !options.exact_gelu;
    KILN_ASSIGN_OR_RETURN(PrecisionReport report, lower_precision(*graph, pr));
    (void)report;
    dump_if_asked(options, "precision", *graph);
  }
  // FP8 products that write float8 for the next FP8 GEMM, once bias and activation have their final types.
  if (options.opt_level >= 2 && chain.front()->wants_pass("fold_qdq_fp8")) {
    KILN_ASSIGN_OR_RETURN(const bool changed, make_fold_qdq_fp8_output_pass()->run(*graph, po));
    if (changed) dump_if_asked(options, "fold_qdq_fp8_output", *graph);
    // ... and normalizations that write float8 for the next one (a transformer's QKV and FFN1 inputs).
    KILN_ASSIGN_OR_RETURN(const bool norm_changed, make_fold_qdq_fp8_norm_pass()->run(*graph, po));
    if (norm_changed) dump_if_asked(options, "fold_qdq_fp8_norm", *graph);
  }
  // After precision lowering, so that the Cast it put after a float32 input folds into the narrower input.
  if (!options.input_dtypes.empty()) {
    KILN_RETURN_IF_ERROR(retype_inputs(*graph, options.input_dtypes).with_context(source));
    dump_if_asked(options, "input_dtype", *graph);
  }

  EngineInfo info;
  info.format_version = kEngineFormatVersion;
  info.kiln_version = KILN_VERSION;
  info.precision = precision;
  info.source = source;
  info.backend = chain.front()->name();
  info.device = host_description();  // a GPU backend's prepare replaces it with the GPU's description
  auto plans = plan_graph(graph, chain, options, profiles, &info);
  if (!plans.ok()) return Status(plans.status().code(), source + ": " + plans.status().message());
  dump_if_asked(options, "placement", *graph);
  auto engine = std::make_shared<Engine>(graph, std::move(info), std::move(profiles));
  EngineAccess::set_plans(*engine, std::move(*plans));
  if (options.device != "cpu") EngineAccess::set_device(*engine, options.gpu);  // weights go to the GPU it was built on
  return engine;
}

Result<std::shared_ptr<Engine>> Engine::build_from_onnx(const std::string& onnx_path, const BuildOptions& asked) {
  KILN_ASSIGN_OR_RETURN(BuildOptions options, effective_options(asked));
  KILN_RETURN_IF_ERROR(resolve_precision(options).status());
  KILN_RETURN_IF_ERROR(guard::check_guard_options(options));
  if (options.precision == "int8" && !options.accuracy_budget.empty()) {
    // The accuracy guard: calibrate on part of the samples, keep the most sensitive layers in FP32 until the
    // held-back samples meet the budget; its final trial engine is the result.
    KILN_ASSIGN_OR_RETURN(guard::GuardOutcome g, guard::run_accuracy_guard(onnx_path, options));
    return g.engine;
  }
  if (options.precision == "fp8" && !options.accuracy_budget.empty())
    return unimplemented("--accuracy-budget works with --precision int8 only (not fp8)");
  const bool quantized = options.precision == "int8" || options.precision == "fp8";
  if (quantized && options.calib_dir.empty() && options.calib_cache.empty()) {
    // Explicit quantization: a model that already holds quantized ops or Q/DQ builds as it is (the fold pass
    // makes them int8 kernels); any other model needs calibration, whose error names the flags.
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_file(onnx_path));
    for (const auto& n : graph->nodes)
      if (is_quantization_op(n.op)) return build_engine_from_graph(graph, options, onnx_path);
  }
  if (quantized) {
    // Implicit quantization: calibrate (or read the cache) -> Q/DQ model -> the usual build of that model.
    KILN_ASSIGN_OR_RETURN(calib::Int8Model q, calib::make_int8_model(onnx_path, options));
    std::string base_dir = std::filesystem::path(onnx_path).parent_path().string();
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_bytes(q.qdq_bytes, base_dir, onnx_path));
    return build_engine_from_graph(graph, options, onnx_path);
  }
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_file(onnx_path));
  return build_engine_from_graph(graph, options, onnx_path);
}

}  // namespace kiln
