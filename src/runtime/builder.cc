// The engine builder: options check, shape specialization, optimizer, precision, backend placement and tuning.
#include "runtime/builder.h"

#include <fstream>
#include <iostream>

#include "backends/reference/kernel.h"
#include "ir/shape_inference.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"
#include "passes/retype_inputs.h"
#include "quant/precision.h"
#include "runtime/engine_access.h"
#include "runtime/format/engine_file.h"
#include "runtime/profiles.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/runtime/planner.h"
#endif

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

Result<std::string> resolve_precision(const BuildOptions& o) {
  const std::string& p = o.precision;
  if (p != "fp32" && p != "tf32" && p != "fp16" && p != "bf16" && p != "int8" && p != "best")
    return invalid_argument("unknown --precision '" + p + "' (expected fp32|tf32|fp16|bf16|int8|best)");
  if (p == "int8") return unimplemented("--precision int8 needs calibration, which Kiln does not implement yet");
  if (o.device == "cpu") {
    if (p == "best") return std::string("fp32");  // the reference backend's fastest precision
    if (p == "tf32") return invalid_argument("--precision tf32 is a GPU precision (use fp32 on --device cpu)");
    return p;
  }
  return p == "best" ? std::string("fp16") : p;
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

Result<std::shared_ptr<Engine>> build_engine_from_graph(std::shared_ptr<Graph> graph, const BuildOptions& options,
                                                        const std::string& source) {
  if (options.device != "cpu" && options.device != "cuda")
    return invalid_argument("unknown --device '" + options.device + "' (expected cpu or cuda)");
#ifndef KILN_HAVE_CUDA
  if (options.device == "cuda")
    return unimplemented("--device cuda: this Kiln was built without CUDA; build with --device cpu");
#endif
  KILN_ASSIGN_OR_RETURN(std::string precision, resolve_precision(options));
  dump_if_asked(options, "import", *graph);
  KILN_ASSIGN_OR_RETURN(std::vector<OptimizationProfile> profiles, make_profiles(*graph, options));
  KILN_RETURN_IF_ERROR(specialize_fixed_shapes(*graph, profiles));

  PassOptions po;
  po.opt_level = options.opt_level;
  po.device = options.device;
  for (const auto& d : options.dump_ir_after)
    if (d != "import" && d != "precision" && d != "input_dtype" && d != "placement") po.dump_ir_after.push_back(d);
  KILN_RETURN_IF_ERROR(optimize_graph(*graph, po));

  if (precision == "fp16" || precision == "bf16") {
    PrecisionOptions pr;
    pr.target = precision == "fp16" ? DType::kFloat16 : DType::kBFloat16;
    pr.approximate_gelu = !options.exact_gelu;
    KILN_ASSIGN_OR_RETURN(PrecisionReport report, lower_precision(*graph, pr));
    (void)report;
    dump_if_asked(options, "precision", *graph);
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
  if (options.device == "cpu") {
    for (const auto& node : graph->nodes)
      if (!reference_kernels().find(node.op))
        return unimplemented(source + ": " + node.describe() + ": op is not supported by the CPU backend");
    info.backend = "reference";
    info.device = host_description();
    return std::make_shared<Engine>(graph, std::move(info), std::move(profiles));
  }
#ifdef KILN_HAVE_CUDA
  info.backend = "cuda";
  KILN_RETURN_IF_ERROR(cuda::place_and_tune(graph, options, profiles, &info));
  dump_if_asked(options, "placement", *graph);
  auto engine = std::make_shared<Engine>(graph, std::move(info), std::move(profiles));
  EngineAccess::set_device(*engine, options.gpu);  // weights go to the GPU it was built (timed) on
  return engine;
#else
  return unimplemented("--device cuda: this Kiln was built without CUDA");
#endif
}

Result<std::shared_ptr<Engine>> Engine::build_from_onnx(const std::string& onnx_path, const BuildOptions& options) {
  if (options.device != "cpu" && options.device != "cuda")
    return invalid_argument("unknown --device '" + options.device + "' (expected cpu or cuda)");
  KILN_RETURN_IF_ERROR(resolve_precision(options).status());
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_file(onnx_path));
  return build_engine_from_graph(graph, options, onnx_path);
}

}  // namespace kiln
