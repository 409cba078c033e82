// Model repository: scanning DIR/<model>/<version>/, loading (engine cache, warmup), unloading, polling.
#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "server/gpu_monitor.h"
#include "server/model_config.h"
#include "server/placement.h"
#include "server/server_impl.h"

namespace kiln::server {

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}
// Model names come from directory entries only; request-supplied names are matched against them.
bool valid_model_name(const std::string& n) {
  return !n.empty() && n[0] != '.' && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}
// Version folders: decimal digits, not starting with 0 (Triton ignores those).
bool version_number(const std::string& n, int64_t* v) {
  if (n.empty() || n.size() > 18 || n[0] == '0') return false;
  for (char c : n)
    if (c < '0' || c > '9') return false;
  *v = std::stoll(n);
  return true;
}

// FNV-1a 64-bit, streamed.
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* data, size_t n) {
    auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add(const std::string& s) {
    add(s.data(), s.size());
    add("\0", 1);
  }
};

Result<uint64_t> hash_file(const std::string& path, Fnv fnv) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), buf.size());
    fnv.add(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return fnv.h;
}

std::string hex16(uint64_t v) {
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(v));
  return s;
}

std::string describe_options(const BuildOptions& o) {
  std::ostringstream s;
  s << "device=" << o.device << ";precision=" << o.precision << ";opt=" << o.opt_level;
  for (const auto& [name, dtype] : o.input_dtypes) s << ";input_dtype:" << name << "=" << dtype_name(dtype);
  if (!o.tune_batch_sizes.empty()) {
    s << ";tune_batch_sizes=";
    for (int64_t b : o.tune_batch_sizes) s << b << ",";
  }
  return s.str();
}

// The model file of a version folder: default_model_filename, else model.kiln, else model.onnx.
std::string model_file(const std::string& vdir, const ModelConfig& c) {
  if (!c.default_model_filename().empty()) return vdir + "/" + c.default_model_filename();
  if (is_file(vdir + "/model.kiln")) return vdir + "/model.kiln";
  return vdir + "/model.onnx";
}

bool is_onnx_path(const std::string& p) { return p.size() >= 5 && p.compare(p.size() - 5, 5, ".onnx") == 0; }

// Where a version's engines come from and go: the model file, and for ONNX models the build options and one cache
// file per distinct device compatibility key (identical GPUs share one file; each still loads its own copy).
struct EnginePlan {
  std::string file;
  bool onnx = false;
  BuildOptions opts;
  std::map<int, std::string> cache;  // device (-1: CPU or simulated GPU) -> cache path
};

Result<EnginePlan> plan_engines(const std::string& vdir, const ModelConfig& c, const std::string& model,
                                const std::vector<int>& devices, bool cuda) {
  EnginePlan p;
  p.file = model_file(vdir, c);
  if (!is_file(p.file)) return not_found("model '" + model + "': " + p.file + " does not exist");
  p.onnx = is_onnx_path(p.file);
  if (!p.onnx) return p;
  p.opts.device = cuda ? "cuda" : "cpu";
  auto prec = c.parameters().find("precision");
  if (prec != c.parameters().end()) p.opts.precision = prec->second.string_value();
  // A config input declared FP16, BF16 or UINT8 makes the engine take that type (BuildOptions::input_dtypes), so
  // clients send fewer bytes; the build says clearly when the model's input cannot be retyped.
  for (const auto& in : c.input()) {
    DType want;
    if (dtype_from_config(in.data_type(), &want) &&
        (want == DType::kFloat16 || want == DType::kBFloat16 || want == DType::kUInt8))
      p.opts.input_dtypes[in.name()] = want;
  }
  // A GPU engine is tuned at the batch sizes its batcher forms: max_batch_size first, then each preferred size (at a
  // size no profile tuned, cuDNN convolutions run their first plan: half the speed for ResNet-50 at batch 64). The
  // builder ignores the sizes unless every input varies only in its first dim.
  if (cuda && c.max_batch_size() > 0) {
    p.opts.tune_batch_sizes.push_back(c.max_batch_size());
    if (c.has_dynamic_batching())
      for (int b : c.dynamic_batching().preferred_batch_size())
        if (b > 0 && b < c.max_batch_size()) p.opts.tune_batch_sizes.push_back(b);
  }
  std::set<std::string> names;
  for (int d : devices) {
    Fnv key;
    key.add(describe_options(p.opts));
    if (cuda) {
      KILN_ASSIGN_OR_RETURN(CudaDeviceDescription dev, cuda_device(d));
      key.add("cuda:" + dev.compat_key());
    } else {
      key.add(std::string("cpu"));
    }
    key.add(std::string(KILN_VERSION));
    KILN_ASSIGN_OR_RETURN(uint64_t h, hash_file(p.file, key));
    std::string name = "model." + hex16(h) + ".kiln";
    names.insert(name);
    p.cache[cuda ? d : -1] = vdir + "/" + name;
  }
  // Cache files of other keys are stale (different model bytes, options, devices or Kiln version).
  for (const auto& n : list_dir(vdir)) {
    if (!names.count(n) && n.size() == std::string("model.0123456789abcdef.kiln").size() && n.rfind("model.", 0) == 0 &&
        n.compare(n.size() - 5, 5, ".kiln") == 0) {
      ::unlink((vdir + "/" + n).c_str());
      log_json("info", "removed stale engine cache", {{"model", model}, {"file", vdir + "/" + n}});
    }
  }
  return p;
}

// The engine of one device (-1: CPU): loads the model's engine file onto it, or its cache file, or compiles the
// ONNX model for it and caches the result (a later device with the same key loads that file).
Result<std::shared_ptr<Engine>> obtain_engine(const EnginePlan& p, int device, const std::string& model) {
  LoadOptions lo;
  lo.gpu = device;
  if (!p.onnx) return Engine::load(p.file, lo);
  const std::string& cache = p.cache.at(p.opts.device == "cuda" ? device : -1);
  const std::string where = device < 0 ? "cpu" : "gpu" + std::to_string(device);
  if (is_file(cache)) {
    auto e = Engine::load(cache, lo);
    if (e.ok() && e.value()->info().kiln_version == KILN_VERSION) {
      log_json("info", "loaded cached engine", {{"model", model}, {"file", cache}, {"device", where}});
      return e;
    }
    log_json("warning", "engine cache unusable, rebuilding",
             {{"model", model}, {"file", cache}, {"error", e.ok() ? "version mismatch" : e.status().message()}});
    ::unlink(cache.c_str());
  }
  BuildOptions opts = p.opts;
  if (opts.device == "cuda") opts.gpu = device;
  log_json("info", "compiling model", {{"model", model}, {"file", p.file}, {"device", opts.device}, {"gpu", where}});
  auto built = Engine::build_from_onnx(p.file, opts);
  if (!built.ok())
    return Status(built.status().code(), "model '" + model + "': building " + p.file + " for device " + opts.device +
                                             ": " + built.status().message());
  std::string tmp = cache + ".tmp" + std::to_string(::getpid());
  Status saved = built.value()->save(tmp);
  if (saved.ok() && ::rename(tmp.c_str(), cache.c_str()) == 0) {
    log_json("info", "cached engine", {{"model", model}, {"file", cache}});
  } else {
    ::unlink(tmp.c_str());
    log_json("warning", "cannot write engine cache", {{"model", model}, {"file", cache}, {"error", saved.message()}});
  }
  return built;
}

std::vector<InstanceGroupSpec> groups_of(const ModelConfig& c) {
  std::vector<InstanceGroupSpec> out;
  for (const auto& g : c.instance_group()) {
    InstanceGroupSpec s;
    s.kind = g.kind() == ModelInstanceGroup::KIND_GPU   ? InstanceKind::kGpu
             : g.kind() == ModelInstanceGroup::KIND_CPU ? InstanceKind::kCpu
                                                        : InstanceKind::kAuto;
    s.count = g.count();
    s.gpus.assign(g.gpus().begin(), g.gpus().end());
    out.push_back(std::move(s));
  }
  return out;
}

// Writes the placement back into the config the server reports (Triton's auto-complete): each group's kind
// resolved (KIND_AUTO -> KIND_GPU or KIND_CPU), count >= 1, and the GPUs it runs on.
void resolve_instance_groups(ModelConfig* c, const std::vector<PlacedInstance>& placed) {
  if (c->instance_group_size() == 0) {
    auto* g = c->add_instance_group();
    g->set_count(1);
    g->set_kind(ModelInstanceGroup::KIND_CPU);
    return;
  }
  for (int i = 0; i < c->instance_group_size(); ++i) {
    auto* g = c->mutable_instance_group(i);
    std::set<int> devices;
    for (const auto& p : placed)
      if (p.group == i && p.device >= 0) devices.insert(p.device);
    g->set_kind(devices.empty() ? ModelInstanceGroup::KIND_CPU : ModelInstanceGroup::KIND_GPU);
    if (g->count() <= 0) g->set_count(1);
    g->clear_gpus();
    for (int d : devices) g->add_gpus(d);
  }
}

// Runs the config's warmup requests on one context; an error fails the load.
Status warmup(const Engine& engine, const ModelConfig& c, const std::string& model_dir, const std::string& origin) {
  if (c.model_warmup_size() == 0) return ok_status();
  auto ctx = engine.create_context();
  std::mt19937 rng(1234);
  for (const auto& w : c.model_warmup()) {
    NamedValues inputs;
    for (const auto& [name, in] : w.inputs()) {
      DType dt;
      if (!dtype_from_config(in.data_type(), &dt) || dt == DType::kString)
        return invalid_argument(origin + ": field model_warmup[" + w.name() + "].inputs[" + name +
                                "].data_type: unsupported");
      Dims dims;
      if (c.max_batch_size() > 0) dims.push_back(w.batch_size());
      dims.insert(dims.end(), in.dims().begin(), in.dims().end());
      KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, dims, size_t{1} << 30));
      if (in.input_data_type_case() == ModelWarmup::Input::kRandomData) {
        auto* p = static_cast<unsigned char*>(t.raw());
        if (dt == DType::kFloat32) {
          std::uniform_real_distribution<float> u(0.f, 1.f);
          for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
        } else {
          for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(rng() & 1);
        }
      } else if (in.input_data_type_case() == ModelWarmup::Input::kInputDataFile) {
        std::string path = model_dir + "/warmup/" + in.input_data_file();
        std::ifstream f(path, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        if (!f.good() && !f.eof()) return not_found(origin + ": warmup file " + path + " cannot be read");
        if (bytes.size() != t.nbytes())
          return invalid_argument(origin + ": warmup file " + path + " has " + std::to_string(bytes.size()) +
                                  " bytes, the input needs " + std::to_string(t.nbytes()));
        std::memcpy(t.raw(), bytes.data(), bytes.size());
      }
      inputs.emplace_back(name, Value::of(std::move(t)));
    }
    for (uint32_t i = 0; i < std::max<uint32_t>(w.count(), 1); ++i) {
      NamedValues outputs;
      Status st = ctx->run(inputs, &outputs);
      if (!st.ok()) return Status(st.code(), origin + ": warmup '" + w.name() + "' failed: " + st.message());
    }
  }
  return ok_status();
}

}  // namespace

std::vector<std::string> ServerImpl::scan_model_names() const {
  std::vector<std::string> out;
  for (const auto& n : list_dir(options_.repository))
    if (valid_model_name(n) && is_dir(options_.repository + "/" + n)) out.push_back(n);
  return out;
}

std::string ServerImpl::signature_of(const std::string& name) const {
  std::ostringstream s;
  std::string dir = options_.repository + "/" + name;
  auto stamp = [&](const std::string& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0)
      s << p << ':' << st.st_size << ':' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec << ';';
  };
  stamp(dir + "/config.pbtxt");
  for (const auto& v : list_dir(dir)) {
    int64_t num;
    if (!version_number(v, &num)) continue;
    for (const auto& f : list_dir(dir + "/" + v))
      if (f == "model.onnx" || f == "model.kiln") stamp(dir + "/" + v + "/" + f);
  }
  return s.str();
}

Result<std::shared_ptr<LoadedVersion>> ServerImpl::load_version(const std::string& name, const ModelConfig& base,
                                                                int64_t version, const std::string& model_dir,
                                                                const std::string& origin) {
  auto lv = std::make_shared<LoadedVersion>();
  lv->version = version;
  lv->version_str = std::to_string(version);
  lv->config = base;
  // Placement: instance groups x devices -> instances; then one engine per device (each its own weights).
  bool simulated = false;
  int gpu_count = placement_gpu_count(&simulated);
  KILN_ASSIGN_OR_RETURN(std::vector<PlacedInstance> placed, place_instances(groups_of(base), gpu_count, origin));
  const bool gpu = placed[0].device >= 0;
  const bool cuda = gpu && !simulated;  // simulated GPUs (KILN_SIMULATED_GPUS, tests) run the CPU backend
  std::vector<int> devices = devices_of(placed);
  KILN_ASSIGN_OR_RETURN(EnginePlan plan, plan_engines(model_dir + "/" + lv->version_str, base, name, devices, cuda));
  std::map<int, std::shared_ptr<Engine>> engines;
  for (int d : devices) {
    KILN_ASSIGN_OR_RETURN(engines[d], obtain_engine(plan, cuda ? d : -1, name));
    if (d == devices[0]) {
      if (plan.onnx && autocomplete_batching(&lv->config, *engines[d], options_.default_max_batch_size))
        log_json("info", "auto-completed batching",
                 {{"model", name}, {"max_batch_size", std::to_string(lv->config.max_batch_size())}});
      KILN_RETURN_IF_ERROR(complete_config_from_engine(&lv->config, *engines[d], origin));
    }
    KILN_RETURN_IF_ERROR(warmup(*engines[d], lv->config, model_dir, origin));
  }
  resolve_instance_groups(&lv->config, placed);
  std::vector<SchedulerInstance> instances;
  std::map<std::string, int> per_device;
  for (const auto& p : placed) {
    instances.push_back({engines.at(p.device), p.device, p.label()});
    ++per_device[p.label()];
  }
  std::string where;
  for (const auto& [label, n] : per_device) where += (where.empty() ? "" : ",") + label + ":" + std::to_string(n);
  log_json("info", "model instances placed",
           {{"model", name},
            {"version", lv->version_str},
            {"instances", std::to_string(instances.size())},
            {"devices", where},
            {"eager_batching", lv->config.optimization().eager_batching() ? "on" : "off"},
            {"simulated_gpus", simulated ? std::to_string(gpu_count) : "0"}});
  lv->engine = engines.at(devices[0]);
  lv->stats = stats_for(name, lv->version_str);
  // Classification extension: the outputs' label_filename files are read once per load.
  SchedulerConfig sched = SchedulerConfig::from(lv->config, lv->version_str);
  KILN_RETURN_IF_ERROR(sched.load_labels(model_dir));
  lv->scheduler = std::make_unique<Scheduler>(std::move(instances), std::move(sched), lv->stats);
  lv->scheduler->start();
  return lv;
}

ServerStatus ServerImpl::load(const std::string& name) { return load(name, Parameters{}); }

// Load parameters as Triton defines them: "config" (a JSON ModelConfig that replaces config.pbtxt for this load)
// and "file:<path>" (model file contents, not supported). Everything is checked before the model is touched, so a
// rejected request leaves the model as it was.
ServerStatus ServerImpl::load(const std::string& name, const Parameters& params) {
  if (options_.control_mode == ModelControlMode::kNone)
    return server_error(ServerCode::kUnavailable,
                        "explicit model load / unload is not allowed in model control mode none");
  if (shutting_down_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  std::string files, unknown;
  const ParamValue* config_param = nullptr;
  for (const auto& [key, value] : params) {
    if (key == "config")
      config_param = &value;
    else if (key.rfind("file:", 0) == 0)
      files += (files.empty() ? "'" : ", '") + key + "'";
    else
      unknown += (unknown.empty() ? "'" : ", '") + key + "'";
  }
  if (!files.empty())
    return server_error(
        ServerCode::kInvalidArgument,
        "model file overrides ('file:...' load parameters) are not supported by kiln serve (got " + files + ")");
  if (!unknown.empty())
    return server_error(ServerCode::kInvalidArgument,
                        "unknown load parameter(s) " + unknown + " (kiln serve supports 'config')");
  ModelConfig override_config;
  if (config_param) {
    const auto* json = std::get_if<std::string>(config_param);
    if (!json)
      return server_error(ServerCode::kInvalidArgument,
                          "config override: the 'config' load parameter must be a string holding a JSON model config");
    auto parsed = parse_model_config_json(*json, "config override");
    if (!parsed.ok()) return server_error(ServerCode::kInvalidArgument, parsed.status().message());
    override_config = std::move(parsed).value();
    if (override_config.name().empty()) override_config.set_name(name);
    if (override_config.name() != name)
      return server_error(ServerCode::kInvalidArgument, "config override: field name: '" + override_config.name() +
                                                            "' differs from the model name '" + name + "'");
    Status valid = validate_model_config(override_config, "config override");
    if (!valid.ok()) return server_error(ServerCode::kInvalidArgument, valid.message());
  }
  std::lock_guard<std::mutex> lock(load_mu_);
  if (shutting_down_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  return load_locked(name, config_param ? &override_config : nullptr);
}

std::shared_ptr<StatsCollector> ServerImpl::stats_for(const std::string& name, const std::string& version) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  auto& slot = kept_stats_[name + '\n' + version];
  if (!slot) slot = std::make_shared<StatsCollector>(name, version);
  return slot;
}

bool ServerImpl::models_ready() const {
  if (!options_.strict_readiness) return true;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [n, m] : models_)
    if (m.state != "READY" && !(m.state == "UNAVAILABLE" && m.reason == "unloaded")) return false;
  return true;
}

ServerStatus ServerImpl::load_locked(const std::string& name, const ModelConfig* override_config) {
  auto names = scan_model_names();
  if (!valid_model_name(name) || std::find(names.begin(), names.end(), name) == names.end())
    return server_error(ServerCode::kNotFound, "no model directory '" + name + "' in the repository");
  std::string dir = options_.repository + "/" + name;
  std::string origin = override_config ? "config override" : dir + "/config.pbtxt";
  std::string signature = signature_of(name);
  bool serving = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    serving = !models_[name].versions.empty();
    models_[name].state = serving ? "READY" : "LOADING";
  }
  auto fail = [&](const Status& st) {
    log_json("error", "model failed to load", {{"model", name}, {"error", st.message()}});
    if (override_config && serving) {
      // A failed override never takes a working model down (Triton keeps the loaded model when a reload fails).
      std::lock_guard<std::mutex> l(mu_);
      models_[name].state = "READY";
      return ServerStatus{ServerCode::kInvalidArgument, st.message() + " (the loaded versions keep serving)"};
    }
    std::map<int64_t, std::shared_ptr<LoadedVersion>> old;
    {
      std::lock_guard<std::mutex> l(mu_);
      ModelState& m = models_[name];
      old.swap(m.versions);
      m.state = "UNAVAILABLE";
      m.reason = st.message();
      m.signature = signature;
    }
    for (auto& [v, lv] : old) lv->scheduler->stop();
    return ServerStatus{ServerCode::kInvalidArgument, st.message()};
  };
  ModelConfig config;
  if (override_config) {
    config = *override_config;
  } else if (is_file(origin)) {
    auto parsed = parse_model_config(origin);
    if (!parsed.ok()) return fail(parsed.status());
    config = std::move(parsed).value();
  }
  if (config.name().empty()) config.set_name(name);
  if (config.name() != name)
    return fail(invalid_argument(origin + ": field name: '" + config.name() + "' differs from the directory name '" +
                                 name + "'"));
  Status valid = validate_model_config(config, origin);
  if (!valid.ok()) return fail(valid);
  const std::string& dmf = config.default_model_filename();
  if (!dmf.empty() && (dmf.find('/') != std::string::npos || dmf == "." || dmf == ".."))
    return fail(invalid_argument(origin + ": field default_model_filename: must be a plain file name"));
  std::vector<int64_t> available;
  for (const auto& v : list_dir(dir)) {
    int64_t num;
    if (version_number(v, &num) && is_dir(dir + "/" + v)) available.push_back(num);
  }
  std::sort(available.begin(), available.end());
  std::vector<int64_t> chosen = select_versions(config, available);
  if (chosen.empty())
    return fail(not_found(dir + ": no version folder selected by the version policy (folders: " +
                          std::to_string(available.size()) + ")"));
  std::map<int64_t, std::shared_ptr<LoadedVersion>> fresh;
  for (int64_t v : chosen) {
    auto lv = load_version(name, config, v, dir, origin);
    if (!lv.ok()) {
      for (auto& [n, x] : fresh) x->scheduler->stop();
      return fail(lv.status());
    }
    fresh[v] = std::move(lv).value();
  }
  std::map<int64_t, std::shared_ptr<LoadedVersion>> old;
  {
    std::lock_guard<std::mutex> l(mu_);
    ModelState& m = models_[name];
    old.swap(m.versions);
    m.versions = std::move(fresh);
    m.state = "READY";
    m.reason.clear();
    m.signature = signature;
  }
  for (auto& [v, lv] : old) lv->scheduler->stop();  // drains requests already queued on the old versions
  old.clear();
  ::malloc_trim(0);
  std::string versions;
  for (int64_t v : chosen) versions += (versions.empty() ? "" : ",") + std::to_string(v);
  log_json("info", "model ready", {{"model", name}, {"versions", versions}});
  return {};
}

ServerStatus ServerImpl::unload(const std::string& name) {
  if (options_.control_mode == ModelControlMode::kNone)
    return server_error(ServerCode::kUnavailable,
                        "explicit model load / unload is not allowed in model control mode none");
  if (shutting_down_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  std::lock_guard<std::mutex> lock(load_mu_);
  if (shutting_down_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  return unload_locked(name, false);
}

ServerStatus ServerImpl::unload_locked(const std::string& name, bool forget) {
  std::map<int64_t, std::shared_ptr<LoadedVersion>> old;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return server_error(ServerCode::kNotFound, "unknown model '" + name + "'");
    old.swap(it->second.versions);
    it->second.state = "UNLOADING";
  }
  // New requests already fail (no versions); queued and running ones finish before the contexts go.
  for (auto& [v, lv] : old) lv->scheduler->stop();
  old.clear();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (forget) {
      models_.erase(name);
      std::lock_guard<std::mutex> sl(stats_mu_);  // a model removed from the repository starts from zero if it returns
      for (auto it = kept_stats_.lower_bound(name + '\n');
           it != kept_stats_.end() && it->first.rfind(name + '\n', 0) == 0;)
        it = kept_stats_.erase(it);
    } else {
      models_[name].state = "UNAVAILABLE";
      models_[name].reason = "unloaded";
    }
  }
  ::malloc_trim(0);  // return the freed engine and arena memory to the OS
  log_json("info", "model unloaded", {{"model", name}});
  return {};
}

Status ServerImpl::start() {
  if (!is_dir(options_.repository))
    return not_found("model repository '" + options_.repository + "' is not a directory");
  {
    std::lock_guard<std::mutex> lock(load_mu_);
    std::vector<std::string> names = scan_model_names();
    bool all = options_.control_mode != ModelControlMode::kExplicit;
    for (const auto& s : options_.startup_models) all |= s == "*";
    for (const auto& n : names) {
      bool wanted = all || std::find(options_.startup_models.begin(), options_.startup_models.end(), n) !=
                               options_.startup_models.end();
      if (wanted) (void)load_locked(n);
    }
    for (const auto& s : options_.startup_models)
      if (s != "*" && std::find(names.begin(), names.end(), s) == names.end())
        log_json("error", "--load-model names no model directory", {{"model", s}});
  }
  if (options_.control_mode == ModelControlMode::kPoll) poll_thread_ = std::thread([this] { poll_loop(); });
  started_ = true;
  return ok_status();
}

void ServerImpl::poll_loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(poll_mu_);
      poll_cv_.wait_for(lock, std::chrono::seconds(std::max(options_.poll_secs, 1)),
                        [&] { return shutting_down_.load(); });
      if (shutting_down_) return;
    }
    std::lock_guard<std::mutex> lock(load_mu_);
    std::vector<std::string> names = scan_model_names();
    std::map<std::string, std::string> known;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [n, m] : models_) known[n] = m.signature;
    }
    for (const auto& n : names) {
      auto it = known.find(n);
      if (it == known.end() || it->second != signature_of(n)) (void)load_locked(n);
    }
    for (const auto& [n, sig] : known)
      if (std::find(names.begin(), names.end(), n) == names.end()) (void)unload_locked(n, true);
  }
}

void ServerImpl::shutdown() {
  if (shutting_down_.exchange(true)) return;
  control_.stop();  // pending model-control work runs now; its loads/unloads answer kUnavailable at once
  poll_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  std::lock_guard<std::mutex> lock(load_mu_);
  std::vector<std::shared_ptr<LoadedVersion>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [n, m] : models_)
      for (auto& [v, lv] : m.versions) all.push_back(lv);
  }
  for (auto& lv : all) lv->scheduler->stop();  // runs everything queued, then joins
}

ServerImpl::~ServerImpl() { shutdown(); }

}  // namespace kiln::server
