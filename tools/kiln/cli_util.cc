// Shared CLI helpers.
#include "tools/kiln/cli_util.h"

#include <iostream>
#include <random>

#include "core/float_formats.h"
#include "core/npy.h"
#include "onnx/tensor_proto.h"
#include "passes/retype_inputs.h"
#include "quant/guard/budget.h"

namespace kiln::cli {

Result<std::map<std::string, Dims>> parse_shapes(const std::string& text) {
  std::map<std::string, Dims> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string entry;
  while (std::getline(ss, entry, ',')) {
    if (entry.empty()) continue;
    auto colon = entry.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return invalid_argument("bad shape '" + entry + "': expected NAME:DIMS like input:1x3x224x224");
    std::string name = entry.substr(0, colon), dims_text = entry.substr(colon + 1);
    Dims dims;
    if (!dims_text.empty() && dims_text != "scalar") {
      std::stringstream ds(dims_text);
      std::string d;
      while (std::getline(ds, d, 'x')) {
        char* end = nullptr;
        long long v = std::strtoll(d.c_str(), &end, 10);
        if (d.empty() || *end != '\0' || v < 0)
          return invalid_argument("bad dimension '" + d + "' in shape '" + entry +
                                  "' (expected non-negative integers joined by 'x')");
        dims.push_back(v);
      }
    }
    if (!out.emplace(name, dims).second) return invalid_argument("shape for input '" + name + "' given twice");
  }
  return out;
}

void BuildFlags::add_to(CLI::App* cmd, bool with_profiles) {
  cmd->add_option("--device", device, "Target device: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--precision", precision,
                  "fp32|tf32|fp16|bf16|int8|fp8|best (best: fp16 on cuda; on cpu bf16 where it has AVX512-BF16/AMX, "
                  "else fp32; fp8: float8 e4m3 MatMul/Gemm, needs --calib or --calib-cache)")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16", "int8", "fp8", "best"}));
  cmd->add_option("--gpu", gpu, "CUDA device index for --device cuda")->check(CLI::NonNegativeNumber);
  cmd->add_option("--shapes", shapes, "Fixed input shapes, e.g. input:1x3x224x224,mask:1x128");
  cmd->add_option("--input-dtype", input_dtypes,
                  "Engine input dtype NAME:fp16|bf16|uint8|fp32 (repeatable): clients send fewer bytes; the engine "
                  "converts to the model's type at its start");
  if (with_profiles) {
    cmd->add_option("--min-shapes", min_shapes, "Profile minimum shapes (repeat the three flags for more profiles)");
    cmd->add_option("--opt-shapes", opt_shapes, "Profile optimum shapes");
    cmd->add_option("--max-shapes", max_shapes, "Profile maximum shapes");
    cmd->add_option("--opt-level", opt_level, "Optimization level 0..5")->check(CLI::Range(0, 5));
    cmd->add_option(
        "--dump-ir", dump_ir,
        "Print the IR after a stage: after:import | after:<pass> | after:precision | after:placement | after:all");
    cmd->add_option("--timing-cache", timing_cache, "GPU tactic timing cache file (read if present, then updated)");
    cmd->add_option("--tune-batch-sizes", tune_batch_sizes,
                    "Without --shapes/profiles, for a model whose inputs vary only in their first dim: one profile per "
                    "size (batch 1..largest, opt = size), each tuned at its size, the first first (e.g. 128,32,64)")
        ->delimiter(',')
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_flag("--exact-gelu", exact_gelu,
                  "fp16/bf16: keep erf GELU in fused GEMMs (default: tanh form, fused into the GEMM epilogue)");
    cmd->add_flag("--exact-qdq", exact_qdq,
                  "Q/DQ models: run every Q/DQ pair as written (default: attention scores and probabilities in float32, "
                  "so attention fuses; on the CPU, residual and bias Adds join the int8 conv/GEMM before them)");
  }
}

void BuildFlags::add_runtime_to(CLI::App* cmd) {
  if (!cmd->get_option_no_throw("--backend"))
    cmd->add_option("--backend", backend,
                    "When building from ONNX: the backend that runs every node it supports, the reference backend the "
                    "rest (reference: the oracle); default: the --device's backends (cpu: cpu, then reference)");
  cmd->add_option("--threads", threads,
                  "Intra-op threads for CPU engines (default: KILN_NUM_THREADS, else the cores this process may use)")
      ->check(CLI::PositiveNumber);
}

void BuildFlags::add_calib_to(CLI::App* cmd, bool with_cache) {
  cmd->add_option("--calib", calib_dir,
                  "INT8 calibration samples: one subfolder per sample, one <input name>.npy or .pb per model input");
  if (with_cache)
    cmd->add_option("--calib-cache", calib_cache,
                    "Calibration cache (JSON from kiln calibrate): read if it exists, else written after --calib");
  cmd->add_option(
         "--int8-float", int8_float,
         "--precision int8|fp8 on cuda: precision of the float layers between quantized ones, fp16 (default) or fp32")
      ->check(CLI::IsMember({"fp16", "fp32"}));
  cmd->add_option("--calib-method", calib_method, "minmax|entropy|percentile|mse (default mse)")
      ->check(CLI::IsMember({"minmax", "entropy", "percentile", "mse"}));
  cmd->add_option("--percentile", calib_percentile, "percentile method: % of |x| kept unclipped (default 99.99)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--calib-batches", calib_batches, "Calibration samples used, in name order (default: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--export-qdq", export_qdq, "Also write the calibrated Q/DQ model (ONNX) to this file");
}

void BuildFlags::add_guard_to(CLI::App* cmd) {
  cmd->add_option("--accuracy-budget", accuracy_budget,
                  "INT8 accuracy guard: [OUTPUT=]METRIC:VALUE[,...], METRIC top1|cosine|rel_l2 (e.g. cosine:0.999 or "
                  "logits=top1:0.99): held-back --calib samples vs FP32; sensitive layers go back to FP32 until it "
                  "holds, else the build fails");
  cmd->add_option("--accuracy-samples", accuracy_samples,
                  "Held-back samples of --calib for the guard, spread over the name order (default: a fifth, at "
                  "least 1); they do not calibrate")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--accuracy-report", accuracy_report,
                  "Write the guard's JSON report: per-layer precision and sensitivity, metrics before/after, timings");
}

Result<BuildOptions> BuildFlags::to_options() const {
  BuildOptions o;
  if (!backend.empty()) o.backend = backend;
  o.device = device;
  o.precision = precision;
  o.opt_level = opt_level;
  o.gpu = gpu;
  o.timing_cache = timing_cache;
  o.tune_batch_sizes = tune_batch_sizes;
  o.exact_gelu = exact_gelu;
  o.exact_qdq = exact_qdq;
  o.calib_dir = calib_dir;
  o.calib_cache = calib_cache;
  o.calib_method = calib_method;
  o.int8_float = int8_float;
  o.calib_percentile = calib_percentile;
  o.calib_batches = calib_batches;
  o.export_qdq = export_qdq;
  for (const auto& term : accuracy_budget) o.accuracy_budget += (o.accuracy_budget.empty() ? "" : ",") + term;
  o.accuracy_samples = accuracy_samples;
  o.accuracy_report = accuracy_report;
  if (!o.accuracy_budget.empty()) KILN_RETURN_IF_ERROR(guard::parse_budget(o.accuracy_budget).status());
  for (const auto& text : input_dtypes) KILN_RETURN_IF_ERROR(parse_input_dtype(text, &o.input_dtypes));
  KILN_ASSIGN_OR_RETURN(o.shapes, parse_shapes(shapes));
  if (min_shapes.size() != opt_shapes.size() || opt_shapes.size() != max_shapes.size())
    return invalid_argument("--min-shapes, --opt-shapes and --max-shapes must be given the same number of times");
  for (size_t p = 0; p < min_shapes.size(); ++p) {
    KILN_ASSIGN_OR_RETURN(auto mins, parse_shapes(min_shapes[p]));
    KILN_ASSIGN_OR_RETURN(auto opts, parse_shapes(opt_shapes[p]));
    KILN_ASSIGN_OR_RETURN(auto maxs, parse_shapes(max_shapes[p]));
    OptimizationProfile prof;
    for (const auto& [name, d] : mins) {
      if (!opts.count(name) || !maxs.count(name))
        return invalid_argument("profile " + std::to_string(p) + ": input '" + name +
                                "' needs min, opt and max shapes");
      prof.inputs[name] = ShapeRange{d, opts[name], maxs[name]};
    }
    if (opts.size() != mins.size() || maxs.size() != mins.size())
      return invalid_argument("profile " + std::to_string(p) + ": min/opt/max name different inputs");
    o.profiles.push_back(std::move(prof));
  }
  for (const auto& d : dump_ir) {
    if (d.rfind("after:", 0) != 0) return invalid_argument("--dump-ir expects after:<pass>, got '" + d + "'");
    o.dump_ir_after.push_back(d.substr(6));
  }
  return o;
}

Result<NamedValues> load_input_files(const Engine& engine, const std::vector<std::string>& specs) {
  NamedValues inputs;
  for (const auto& spec : specs) {
    const auto eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0) return invalid_argument("--input '" + spec + "': expected NAME=FILE");
    const std::string name = spec.substr(0, eq), file = spec.substr(eq + 1);
    ValueKind kind = ValueKind::kTensor;
    for (const auto& d : engine.inputs())
      if (d.name == name) kind = d.kind;
    if (file.size() >= 4 && file.compare(file.size() - 4, 4, ".npy") == 0) {
      auto t = load_npy(file);
      if (!t.ok()) return t.status().with_context("input '" + name + "'");
      inputs.emplace_back(name, Value::of(std::move(t).value()));
    } else {
      auto v = load_value_pb(file, kind);
      if (!v.ok()) return v.status().with_context("input '" + name + "'");
      inputs.emplace_back(name, std::move(v).value());
    }
  }
  return inputs;
}

int fail(const std::string& cmd, const Status& st) {
  std::cerr << "kiln " << cmd << ": error: " << st.message() << std::endl;
  return 1;
}

Result<std::shared_ptr<Engine>> open_model(const std::string& path, const BuildOptions& options) {
  return Engine::load_or_build(path, options);
}

namespace {

void fill_random(Tensor& t, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> uf(-1.f, 1.f);
  std::uniform_int_distribution<int> ui(0, 3);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (t.dtype()) {
      case DType::kFloat32:
        t.data<float>()[i] = uf(rng);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = uf(rng);
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(uf(rng));
        break;
      case DType::kBFloat16:
        t.data<uint16_t>()[i] = float_to_bf16(uf(rng));
        break;
      case DType::kInt64:
        t.data<int64_t>()[i] = ui(rng);
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = ui(rng);
        break;
      case DType::kBool:
        t.data<uint8_t>()[i] = ui(rng) & 1;
        break;
      case DType::kString:
        t.strings()[i] = "a";
        break;
      default:
        if (dtype_size(t.dtype()) == 1) t.data<uint8_t>()[i] = static_cast<uint8_t>(ui(rng));
    }
  }
}

}  // namespace

Result<NamedValues> make_random_inputs(const Engine& engine, const std::map<std::string, Dims>& shapes, int64_t batch,
                                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  NamedValues out;
  for (const auto& d : engine.inputs()) {
    if (d.kind != ValueKind::kTensor)
      return unimplemented("input '" + d.name + "' is not a tensor; pass it explicitly");
    Dims dims;
    auto it = shapes.find(d.name);
    if (it != shapes.end()) {
      dims = it->second;
    } else if (!engine.profiles().empty() && engine.profiles()[0].inputs.count(d.name)) {
      dims = engine.profiles()[0].inputs.at(d.name).opt;
    } else {
      if (!d.rank_known)
        return invalid_argument("input '" + d.name + "' has unknown rank: give its shape with --shapes");
      for (size_t i = 0; i < d.dims.size(); ++i)
        dims.push_back(d.dims[i] >= 0 ? d.dims[i] : (i == 0 && batch > 0 ? batch : 1));
    }
    if (batch > 0 && it == shapes.end() && !dims.empty() && d.rank_known && !d.dims.empty() && d.dims[0] < 0)
      dims[0] = batch;
    DType dt = d.dtype == DType::kUndefined ? DType::kFloat32 : d.dtype;
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, dims, size_t{8} << 30));
    fill_random(t, rng);
    out.emplace_back(d.name, Value::of(std::move(t)));
  }
  return out;
}

}  // namespace kiln::cli
