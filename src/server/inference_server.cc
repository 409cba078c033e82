// InferenceServer: request validation and routing to schedulers, metadata, repository index and statistics.
#include "server/inference_server.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "server/classification.h"
#include "server/model_config.h"
#include "server/server_impl.h"
#include "server/shm_registry.h"
#include "server/tensor_codec.h"

namespace kiln::server {

namespace {

bool parse_version(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  *v = std::stoll(s);
  return true;
}

// Integer parameter (ints, or doubles holding an integer; doubles beyond int64 saturate instead of overflowing).
// Returns false when absent. A value of the wrong type (string, bool, fraction, NaN) sets *valid = false.
bool int_param(const Parameters& p, const char* key, int64_t* out, bool* valid) {
  *valid = true;
  auto it = p.find(key);
  if (it == p.end()) return false;
  if (auto* i = std::get_if<int64_t>(&it->second)) {
    *out = *i;
    return true;
  }
  if (auto* d = std::get_if<double>(&it->second); d && !std::isnan(*d) && *d == std::floor(*d)) {
    constexpr double kMax = 9.2e18;  // below 2^63: the cast is defined
    *out = *d >= kMax    ? std::numeric_limits<int64_t>::max()
           : *d <= -kMax ? std::numeric_limits<int64_t>::min()
                         : static_cast<int64_t>(*d);
    return true;
  }
  *valid = false;
  return true;
}

// Checks the requested outputs: known, each named once, their classification parameter (classification.h).
ServerStatus validate_outputs(const SchedulerConfig& sc, const InferRequest& req) {
  const std::string& model = sc.model_name;
  // Counted first: naming an output thousands of times must not cost thousands of lookups (or responses).
  if (req.outputs.size() > sc.outputs.size())
    return server_error(ServerCode::kInvalidArgument, std::to_string(req.outputs.size()) +
                                                          " outputs are requested, model '" + model + "' has " +
                                                          std::to_string(sc.outputs.size()));
  for (size_t i = 0; i < req.outputs.size(); ++i) {
    const RequestedOutput& o = req.outputs[i];
    const OutputSpec* spec = nullptr;
    for (const auto& s : sc.outputs)
      if (s.name == o.name) spec = &s;
    if (!spec) return server_error(ServerCode::kNotFound, "model '" + model + "' has no output '" + o.name + "'");
    for (size_t j = 0; j < i; ++j)
      if (req.outputs[j].name == o.name)
        return server_error(ServerCode::kInvalidArgument, "output '" + o.name + "' is requested more than once");
    int64_t classes;
    ServerStatus st = classification_count(o, &classes);
    if (!st.ok()) return st;
    if (classes > 0 && !classifiable(spec->dtype))
      return server_error(ServerCode::kInvalidArgument,
                          "output '" + o.name + "': classification needs a numeric output, this one is " +
                              (datatype_name(spec->dtype)[0] ? datatype_name(spec->dtype) : "not numeric"));
  }
  return {};
}

// kRejectReasons index of a failure before a model version is chosen.
const char* reject_reason(ServerCode code) {
  switch (code) {
    case ServerCode::kNotFound:
      return "UNKNOWN_MODEL";
    case ServerCode::kUnavailable:
      return "MODEL_UNAVAILABLE";
    default:
      return "OTHER";
  }
}

// Request bodies and tensors are hundreds of KiB (an image is 588 KiB): with glibc's dynamic thresholds they come
// from fresh mmaps or from heap tops trimmed back to the kernel at about 1 MiB, and every request page-faults its
// memory back in (30 faults per HTTP image request). Fixed thresholds keep up to 16 MiB of freed heap for reuse and
// serve allocations up to 8 MiB from it. Left alone when the user tunes malloc through the environment.
void tune_malloc_for_serving() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("GLIBC_TUNABLES") || std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
      return;
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
  });
#endif
}

}  // namespace

Result<std::shared_ptr<LoadedVersion>> ServerImpl::find(const std::string& name, const std::string& version,
                                                        ServerCode* code) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    *code = ServerCode::kNotFound;
    return not_found("unknown model '" + name + "'");
  }
  const ModelState& m = it->second;
  if (version.empty()) {
    if (m.versions.empty()) {
      *code = ServerCode::kUnavailable;
      return failed_precondition("model '" + name + "' is not ready (" + m.state +
                                 (m.reason.empty() ? "" : ": " + m.reason) + ")");
    }
    return m.versions.rbegin()->second;
  }
  int64_t v;
  auto vit = parse_version(version, &v) ? m.versions.find(v) : m.versions.end();
  if (vit == m.versions.end()) {
    *code = ServerCode::kNotFound;
    return not_found("model '" + name + "' has no ready version '" + version + "'");
  }
  return vit->second;
}

ServerStatus ServerImpl::validate(const LoadedVersion& lv, const InferRequest& req, QueuedRequest* q) const {
  const SchedulerConfig& sc = lv.scheduler->config();
  const bool batched = sc.max_batch_size > 0;
  const std::string& model = sc.model_name;
  std::vector<const InferTensor*> by_spec(sc.inputs.size(), nullptr);
  for (const auto& t : req.inputs) {
    size_t k = 0;
    while (k < sc.inputs.size() && sc.inputs[k].name != t.name) ++k;
    if (k == sc.inputs.size())
      return server_error(ServerCode::kNotFound, "model '" + model + "' has no input '" + t.name + "'");
    if (by_spec[k]) return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "' is given twice");
    by_spec[k] = &t;
  }
  int64_t rows = -1;
  q->shape_key.clear();
  for (size_t k = 0; k < sc.inputs.size(); ++k) {
    const InputSpec& spec = sc.inputs[k];
    const InferTensor* t = by_spec[k];
    if (!t)
      return server_error(ServerCode::kInvalidArgument, "missing input '" + spec.name + "' of model '" + model + "'");
    if (t->dtype != spec.dtype)
      return server_error(ServerCode::kInvalidArgument,
                          "input '" + spec.name + "': expected datatype " + datatype_name(spec.dtype) + ", got " +
                              (datatype_name(t->dtype)[0] ? datatype_name(t->dtype) : "unknown"));
    size_t first = batched ? 1 : 0;
    auto expected = [&] {
      std::string s = batched ? "[-1" : "[";
      for (size_t i = 0; i < spec.dims.size(); ++i) s += (i || batched ? "," : "") + std::to_string(spec.dims[i]);
      return s + "]";
    };
    if (t->shape.size() != spec.dims.size() + first)
      return server_error(ServerCode::kInvalidArgument, "input '" + spec.name + "': shape " + dims_to_string(t->shape) +
                                                            " does not match " + expected());
    if (batched) {
      int64_t b = t->shape[0];
      if (b < 1 || b > sc.max_batch_size)
        return server_error(ServerCode::kInvalidArgument, "input '" + spec.name + "': batch size " + std::to_string(b) +
                                                              " is outside 1.." + std::to_string(sc.max_batch_size));
      if (rows >= 0 && b != rows)
        return server_error(ServerCode::kInvalidArgument, "inputs disagree on the batch size (" + std::to_string(rows) +
                                                              " vs " + std::to_string(b) + ")");
      rows = b;
    }
    for (size_t i = 0; i < spec.dims.size(); ++i) {
      int64_t d = t->shape[first + i];
      if (d < 0 || (spec.dims[i] >= 0 && d != spec.dims[i]))
        return server_error(
            ServerCode::kInvalidArgument,
            "input '" + spec.name + "': shape " + dims_to_string(t->shape) + " does not match " + expected());
      q->shape_key.append(reinterpret_cast<const char*>(&d), sizeof d);
    }
    q->shape_key.push_back('|');
    int64_t numel;
    ServerStatus st = check_tensor_bytes(*t, &numel);
    if (!st.ok()) return st;
  }
  ServerStatus outputs_ok = validate_outputs(sc, req);
  if (!outputs_ok.ok()) return outputs_ok;
  q->rows = batched ? rows : 1;
  // Priority as Triton maps it: 1 = highest; 0, a priority above the model's levels, or any priority when the model
  // has no priority levels runs at the default level. Only a non-integer or negative value is an error.
  int64_t prio;
  bool valid;
  q->level = sc.default_level;
  if (int_param(req.parameters, "priority", &prio, &valid)) {
    if (!valid || prio < 0)
      return server_error(ServerCode::kInvalidArgument, "parameter priority must be a non-negative integer");
    if (prio >= 1 && prio <= static_cast<int64_t>(sc.levels.size()) && sc.levels.size() > 1)
      q->level = static_cast<uint32_t>(prio - 1);
  }
  const auto& level = sc.levels[q->level];
  int64_t timeout_us = static_cast<int64_t>(level.default_timeout_us);
  int64_t asked;
  if (int_param(req.parameters, "timeout", &asked, &valid)) {
    if (!valid || asked < 0)
      return server_error(ServerCode::kInvalidArgument, "parameter timeout must be a non-negative integer");
    if (level.allow_override || !sc.dynamic_batching) timeout_us = asked;
  }
  // A timeout too far out for the steady clock (above ~1.8e16 us) is no deadline, never an overflow.
  const uint64_t max_us = (std::numeric_limits<uint64_t>::max() - q->start_ns) / 1000;
  q->deadline_ns = timeout_us > 0 && static_cast<uint64_t>(timeout_us) < max_us
                       ? q->start_ns + static_cast<uint64_t>(timeout_us) * 1000
                       : 0;
  return {};
}

std::shared_ptr<InferHandle> ServerImpl::infer(InferRequest request, InferCallback done) {
  auto handle = std::make_shared<InferHandle>();
  uint64_t start = now_ns();
  std::string log_id = request.id.empty() ? "gen-" + std::to_string(next_id_.fetch_add(1)) : request.id;
  auto reject = [&](ServerStatus st, StatsCollector* stats) {
    if (stats) stats->record_failure(st.code == ServerCode::kQueueFull ? "REJECTED" : "OTHER", now_ns() - start);
    log_json("warning", st.message,
             {{"request_id", log_id}, {"model", request.model_name}, {"code", server_code_name(st.code)}});
    done(std::move(st), {});
    return handle;
  };
  if (shutting_down_) {
    count_rejected(request.protocol, "SHUTTING_DOWN");
    return reject(server_error(ServerCode::kUnavailable, "the server is shutting down"), nullptr);
  }
  ServerCode code = ServerCode::kNotFound;
  auto lv = find(request.model_name, request.model_version, &code);
  if (!lv.ok()) {
    count_rejected(request.protocol, reject_reason(code));
    return reject(server_error(code, lv.status().message()), nullptr);
  }
  std::shared_ptr<LoadedVersion> version = std::move(lv).value();
  auto q = std::make_unique<QueuedRequest>();
  q->start_ns = start;
  ServerStatus st = validate(*version, request, q.get());
  if (!st.ok()) return reject(std::move(st), version->stats.get());
  q->request = std::move(request);
  q->done = std::move(done);
  q->handle = handle;
  st = version->scheduler->enqueue(q);
  if (!st.ok()) {  // the scheduler left the request with us
    version->stats->record_failure("REJECTED", now_ns() - start);
    log_json("warning", st.message,
             {{"request_id", log_id},
              {"model", version->scheduler->config().model_name},
              {"code", server_code_name(st.code)}});
    InferCallback cb = std::move(q->done);
    cb(std::move(st), {});
  }
  return handle;
}

std::vector<RepositoryEntry> ServerImpl::index(bool ready_only) const {
  std::vector<RepositoryEntry> out;
  std::vector<std::string> names = scan_model_names();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [n, m] : models_)
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto it = models_.find(n);
    if (it == models_.end()) {
      if (!ready_only) out.push_back({n, "", "UNAVAILABLE", "not loaded"});
      continue;
    }
    const ModelState& m = it->second;
    if (m.versions.empty()) {
      if (!ready_only) out.push_back({n, "", m.state, m.reason});
      continue;
    }
    for (const auto& [v, lv] : m.versions) out.push_back({n, lv->version_str, "READY", ""});
  }
  return out;
}

Result<std::vector<ModelStats>> ServerImpl::statistics(const std::string& name, const std::string& version) const {
  std::vector<std::shared_ptr<LoadedVersion>> picked;
  if (name.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, m] : models_)
      for (const auto& [v, lv] : m.versions) picked.push_back(lv);
  } else if (version.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return not_found("unknown model '" + name + "'");
    for (const auto& [v, lv] : it->second.versions) picked.push_back(lv);
  } else {
    ServerCode code;
    KILN_ASSIGN_OR_RETURN(auto lv, find(name, version, &code));
    picked.push_back(lv);
  }
  std::vector<ModelStats> out;
  for (const auto& lv : picked) {
    ModelStats s = lv->stats->snapshot();
    s.pending_requests = lv->scheduler->pending();
    out.push_back(std::move(s));
  }
  return out;
}

// ---- InferenceServer ------------------------------------------------------------------------------------

InferenceServer::InferenceServer(std::unique_ptr<ServerImpl> impl)
    : impl_(std::move(impl)), shm_(std::make_unique<ShmRegistry>()) {}
InferenceServer::~InferenceServer() { shutdown(); }

Result<std::unique_ptr<InferenceServer>> InferenceServer::create(const ServerOptions& options) {
  tune_malloc_for_serving();
  auto impl = std::make_unique<ServerImpl>(options);
  KILN_RETURN_IF_ERROR(impl->start());
  return std::unique_ptr<InferenceServer>(new InferenceServer(std::move(impl)));
}

void InferenceServer::shutdown() { impl_->shutdown(); }
bool InferenceServer::live() const { return true; }
bool InferenceServer::ready() const { return impl_->started() && !impl_->shutting_down(); }

ServerMetadata InferenceServer::metadata() const {
  ServerMetadata m;
  m.version = KILN_VERSION;
  m.extensions = {"binary_tensor_data", "classification", "model_repository",
                  "statistics", "model_configuration", "trace", "logging"};
  for (auto& e : shm_->extensions()) m.extensions.push_back(std::move(e));  // as --shared-memory allows
  return m;
}

bool InferenceServer::model_ready(const std::string& name, const std::string& version) const {
  ServerCode code;
  return impl_->find(name, version, &code).ok();
}

Result<ModelMetadata> InferenceServer::model_metadata(const std::string& name, const std::string& version) const {
  ServerCode code;
  KILN_ASSIGN_OR_RETURN(auto lv, impl_->find(name, version, &code));
  ModelMetadata md;
  md.name = name;
  md.platform = "kiln";
  for (const auto& e : impl_->index(true))
    if (e.name == name) md.versions.push_back(e.version);
  const auto& sc = lv->scheduler->config();
  auto shape = [&](const Dims& dims) {
    Dims s;
    if (sc.max_batch_size > 0) s.push_back(-1);
    s.insert(s.end(), dims.begin(), dims.end());
    return s;
  };
  for (const auto& in : sc.inputs) md.inputs.push_back({in.name, datatype_name(in.dtype), shape(in.dims)});
  for (const auto& out : sc.outputs) md.outputs.push_back({out.name, datatype_name(out.dtype), shape(out.dims)});
  return md;
}

Result<ModelConfig> InferenceServer::model_config(const std::string& name, const std::string& version) const {
  ServerCode code;
  KILN_ASSIGN_OR_RETURN(auto lv, impl_->find(name, version, &code));
  return lv->config;
}

std::shared_ptr<InferHandle> InferenceServer::infer(InferRequest request, InferCallback done) {
  ServerStatus st = resolve_shared_memory(*shm_, &request);
  if (!st.ok()) {
    impl_->count_rejected(request.protocol, "SHARED_MEMORY");
    log_json("warning", st.message,
             {{"request_id", request.id}, {"model", request.model_name}, {"code", server_code_name(st.code)}});
    done(std::move(st), {});
    return std::make_shared<InferHandle>();
  }
  return impl_->infer(std::move(request), std::move(done));
}

std::vector<RepositoryEntry> InferenceServer::repository_index(bool ready_only) const {
  return impl_->index(ready_only);
}
ServerStatus InferenceServer::load_model(const std::string& name) { return impl_->load(name); }
ServerStatus InferenceServer::unload_model(const std::string& name) { return impl_->unload(name); }
Result<std::vector<ModelStats>> InferenceServer::statistics(const std::string& name, const std::string& version) const {
  return impl_->statistics(name, version);
}
std::string InferenceServer::prometheus_metrics() const { return impl_->prometheus(); }

// ---- failures before a model version is chosen ----
void ServerImpl::count_rejected(const char* protocol, const char* reason) {
  auto index_of = [](const char* name, const auto& names, size_t fallback) {
    if (name)
      for (size_t i = 0; i < std::size(names); ++i)
        if (std::strcmp(name, names[i]) == 0) return i;
    return fallback;
  };
  const size_t p = index_of(protocol, kRejectProtocols, std::size(kRejectProtocols) - 1);
  const size_t r = index_of(reason, kRejectReasons, std::size(kRejectReasons) - 1);
  rejected_[p][r].fetch_add(1, std::memory_order_relaxed);
}
void InferenceServer::count_rejected_request(const char* protocol, const char* reason) {
  impl_->count_rejected(protocol, reason);
}

}  // namespace kiln::server
