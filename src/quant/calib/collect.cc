// Runs the FP32 engine over calibration samples and turns the observed statistics into a calibration cache.
#include "quant/calib/collect.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "core/npy.h"
#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "runtime/builder.h"

namespace kiln::calib {

namespace fs = std::filesystem;

namespace {

std::string sanitized(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s;
}

// Prints "calibrate: <what> i/n samples, <elapsed> s, ~<left> s left" at most once a second, and at the end.
class Progress {
 public:
  Progress(bool on, std::string what, size_t total) : on_(on), what_(std::move(what)), total_(total) {}
  void step(size_t done) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    if (done < total_ && std::chrono::duration<double>(now - last_).count() < 1.0) return;
    last_ = now;
    double left = done ? elapsed / done * (total_ - done) : 0;
    std::fprintf(stderr, "calibrate: %s %zu/%zu samples, %.1f s, ~%.0f s left\n", what_.c_str(), done, total_,
                 elapsed, left);
  }

 private:
  bool on_;
  std::string what_;
  size_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

}  // namespace

Result<std::vector<std::string>> list_sample_dirs(const std::string& dir, int max_samples) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found("calibration folder '" + dir + "' does not exist");
  std::vector<std::string> samples;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) samples.push_back(e.path().string());
  if (ec) return not_found("cannot list calibration folder '" + dir + "': " + ec.message());
  std::sort(samples.begin(), samples.end());
  if (samples.empty())
    return invalid_argument("calibration folder '" + dir +
                            "' has no sample subfolders (expected one folder per sample holding <input name>.npy "
                            "or .pb per model input)");
  if (max_samples > 0 && static_cast<size_t>(max_samples) < samples.size()) samples.resize(max_samples);
  return samples;
}

Result<NamedValues> load_sample(const std::string& sample_dir, const std::vector<TensorDesc>& inputs) {
  NamedValues values;
  for (const auto& in : inputs) {
    std::string found;
    for (const auto& stem : {in.name, sanitized(in.name)})
      for (const char* ext : {".npy", ".pb"}) {
        std::error_code ec;
        fs::path p = fs::path(sample_dir) / (stem + ext);
        if (found.empty() && fs::is_regular_file(p, ec)) found = p.string();
      }
    if (found.empty())
      return not_found("calibration sample '" + sample_dir + "' has no " + sanitized(in.name) + ".npy or " +
                       sanitized(in.name) + ".pb for model input '" + in.name + "'");
    if (found.size() > 4 && found.compare(found.size() - 4, 4, ".npy") == 0) {
      auto t = load_npy(found);
      if (!t.ok()) return t.status().with_context("calibration input '" + in.name + "'");
      values.emplace_back(in.name, Value::of(std::move(t).value()));
    } else {
      auto v = load_value_pb(found, in.kind);
      if (!v.ok()) return v.status().with_context("calibration input '" + in.name + "'");
      values.emplace_back(in.name, std::move(v).value());
    }
  }
  return values;
}

Result<CalibCache> collect_calibration(const onnx::ModelProto& model, const std::vector<std::string>& tensors,
                                       const std::string& base_dir, const std::string& origin,
                                       const std::string& calib_dir, const CollectOptions& options) {
  std::vector<std::string> samples = options.sample_dirs;
  if (samples.empty()) {
    KILN_ASSIGN_OR_RETURN(samples, list_sample_dirs(calib_dir, options.max_samples));
  }
  // The tensors become extra graph outputs (type left to inference) so the engine keeps and returns them.
  onnx::ModelProto probe = model;
  std::set<std::string> graph_inputs, outputs;
  for (const auto& v : probe.graph().input()) graph_inputs.insert(v.name());
  for (const auto& v : probe.graph().output()) outputs.insert(v.name());
  for (const auto& t : tensors)
    if (!graph_inputs.count(t) && outputs.insert(t).second) {
      auto* o = probe.mutable_graph()->add_output();
      o->set_name(t);
      o->mutable_type()->mutable_tensor_type();
    }
  std::string bytes;
  if (!probe.SerializeToString(&bytes)) return internal_error(origin + ": cannot serialize the calibration model");
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_bytes(bytes, base_dir, origin));
  BuildOptions bo;
  bo.device = "cpu";
  bo.opt_level = options.opt_level;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, build_engine_from_graph(graph, bo, origin));
  auto ctx = engine->create_context();

  std::map<std::string, TensorStats> stats;
  for (const auto& t : tensors) stats[t];
  const int passes = needs_histogram(options.method) ? 2 : 1;
  for (int pass = 1; pass <= passes; ++pass) {
    Progress progress(options.progress,
                      passes == 1 ? "range" : (pass == 1 ? "pass 1/2 (ranges)" : "pass 2/2 (histograms)"),
                      samples.size());
    for (size_t s = 0; s < samples.size(); ++s) {
      KILN_ASSIGN_OR_RETURN(NamedValues feed, load_sample(samples[s], engine->inputs()));
      NamedValues out;
      Status st = ctx->run(feed, &out);
      if (!st.ok()) return st.with_context("calibration sample '" + samples[s] + "'");
      std::map<std::string, const Value*> by_name;
      for (const auto& [n, v] : feed) by_name[n] = &v;
      for (const auto& [n, v] : out) by_name[n] = &v;
      for (auto& [name, ts] : stats) {
        auto it = by_name.find(name);
        if (it == by_name.end() || it->second->kind != ValueKind::kTensor)
          return internal_error(origin + ": the calibration engine did not return tensor '" + name + "'");
        const Tensor& x = it->second->tensor;
        if (x.dtype() != DType::kFloat32)
          return invalid_argument(origin + ": tensor '" + name + "' is " + dtype_name(x.dtype()) +
                                  ", INT8 calibration quantizes float32 activations");
        if (pass == 1) ts.observe_range(x.data<float>(), x.numel());
        else ts.observe_histogram(x.data<float>(), x.numel());
      }
      progress.step(s + 1);
    }
  }
  CalibCache cache;
  cache.method = method_name(options.method);
  cache.percentile = options.percentile;
  cache.samples = static_cast<int>(samples.size());
  for (const auto& [name, ts] : stats) {
    ActivationParams p = activation_params(ts, options.method, options.percentile);
    cache.tensors[name] = TensorRange{p.scale, p.zero_point, p.lo, p.hi};
  }
  return cache;
}

}  // namespace kiln::calib
