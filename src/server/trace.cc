// Tracer: Triton-style trace settings (global and per model) and the sampled-request trace records (trace.h).
#include "server/trace.h"
#include "server/cuda_shm.h"      // cuda_copy for CUDA shared-memory input views
#include "server/shm_registry.h"  // guarded_copy for shared-memory input views

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace kiln::server {

namespace {

const char* const kSettingNames[] = {"trace_level", "trace_rate", "trace_count", "log_frequency", "trace_file",
                                     "trace_mode"};

bool known_setting(const std::string& name) {
  for (const char* n : kSettingNames)
    if (name == n) return true;
  return false;
}

// Parses a decimal integer setting value (Triton sends numbers as strings).
bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

ServerStatus bad(const std::string& message) { return server_error(ServerCode::kInvalidArgument, message); }

// A tensor's elements as Triton's trace writes them: comma-separated values ("1,2,3"); BYTES elements as the raw
// strings. At most kMaxTraceElements elements are written (a "truncated": true marks the rest).
constexpr size_t kMaxTraceElements = 4096;

float half_to_float(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

nlohmann::json tensor_json(const char* activity, const InferTensor& t) {
  std::string_view bytes = t.bytes();
  // ---- An input's bytes may be a shared-memory view whose client truncated the object (SIGBUS on read):
  // read a guarded private copy of at most the bytes this record shows (BYTES inputs from shared memory are
  // already private copies, see resolve_shared_memory). ----
  std::string snapshot;
  bool unreadable = false, clipped = false;
  if (t.view && t.dtype != DType::kString) {
    const size_t limit = kMaxTraceElements * std::max<size_t>(1, dtype_size(t.dtype));
    clipped = bytes.size() > limit;
    snapshot.resize(std::min(bytes.size(), limit));
    std::string error;
    if (t.view_device >= 0 ? !cuda_copy(snapshot.data(), bytes.data(), snapshot.size(), /*to_device=*/false,
                                        t.view_device, &error)
                           : !guarded_copy(snapshot.data(), bytes.data(), snapshot.size())) {
      snapshot.clear();
      unreadable = true;
    }
    bytes = snapshot;
  }
  std::string data;
  bool truncated = clipped;
  size_t count = 0;
  auto add = [&](const std::string& v) {
    if (count == kMaxTraceElements) {
      truncated = true;
      return false;
    }
    if (count++) data += ',';
    data += v;
    return true;
  };
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  if (t.dtype == DType::kString) {
    size_t off = 0;
    while (off + 4 <= bytes.size()) {
      uint32_t n = load<uint32_t>(bytes.data() + off);
      off += 4;
      if (off + n > bytes.size() || !add(std::string(bytes.substr(off, n)))) break;
      off += n;
    }
  } else {
    const size_t size = dtype_size(t.dtype);
    for (size_t off = 0; size > 0 && off + size <= bytes.size(); off += size) {
      const char* p = bytes.data() + off;
      std::string v;
      switch (t.dtype) {
        case DType::kBool: v = p[0] ? "1" : "0"; break;
        case DType::kUInt8: v = std::to_string(load<uint8_t>(p)); break;
        case DType::kUInt16: v = std::to_string(load<uint16_t>(p)); break;
        case DType::kUInt32: v = std::to_string(load<uint32_t>(p)); break;
        case DType::kUInt64: v = std::to_string(load<uint64_t>(p)); break;
        case DType::kInt8: v = std::to_string(load<int8_t>(p)); break;
        case DType::kInt16: v = std::to_string(load<int16_t>(p)); break;
        case DType::kInt32: v = std::to_string(load<int32_t>(p)); break;
        case DType::kInt64: v = std::to_string(load<int64_t>(p)); break;
        case DType::kFloat16: v = num(half_to_float(load<uint16_t>(p))); break;
        case DType::kBFloat16: {
          uint32_t bits = static_cast<uint32_t>(load<uint16_t>(p)) << 16;
          v = num(load<float>(reinterpret_cast<const char*>(&bits)));
          break;
        }
        case DType::kFloat32: v = num(load<float>(p)); break;
        case DType::kFloat64: v = num(load<double>(p)); break;
        default: v = "?"; break;
      }
      if (!add(v)) break;
    }
  }
  std::string shape;
  for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(t.shape[i]);
  nlohmann::json tensor = {{"name", t.name}, {"data", data}, {"shape", shape}, {"dtype", datatype_name(t.dtype)}};
  if (truncated) tensor["truncated"] = true;
  if (unreadable) tensor["error"] = "shared memory region is no longer backed (the object was truncated)";
  if (bytes.empty() && t.parameters.count("shared_memory_region")) tensor["shared_memory"] = true;
  return {{"activity", activity}, {"tensor", std::move(tensor)}};
}

bool has_tensors(const std::vector<std::string>& levels) {
  for (const auto& l : levels)
    if (l == "TENSORS") return true;
  return false;
}

bool has_timestamps(const std::vector<std::string>& levels) {
  for (const auto& l : levels)
    if (l == "TIMESTAMPS" || l == "TENSORS") return true;
  return false;
}

}  // namespace

Tracer& Tracer::get() {
  static Tracer* tracer = [] {
    auto* t = new Tracer;  // never destroyed: scheduler threads may record during static destruction
    t->global_.level = std::vector<std::string>{"OFF"};
    t->global_.rate = 1000;
    t->global_.count = -1;
    t->global_.log_frequency = 0;
    t->global_.mode = "triton";
    return t;
  }();
  return *tracer;
}

void Tracer::set_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  file_ = path;
}

Tracer::Level Tracer::resolve_locked(const std::string& model) const {
  Level out = global_;
  auto it = model.empty() ? models_.end() : models_.find(model);
  if (it == models_.end()) return out;
  const Level& m = it->second;
  if (m.level) out.level = m.level;
  if (m.rate) out.rate = m.rate;
  if (m.count) out.count = m.count;
  if (m.log_frequency) out.log_frequency = m.log_frequency;
  if (m.mode) out.mode = m.mode;
  return out;
}

TraceSettingMap Tracer::settings(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  Level l = resolve_locked(model);
  return {{"trace_level", *l.level},
          {"trace_rate", {std::to_string(*l.rate)}},
          {"trace_count", {std::to_string(*l.count)}},
          {"log_frequency", {std::to_string(*l.log_frequency)}},
          {"trace_file", {file_}},
          {"trace_mode", {*l.mode}}};
}

ServerStatus Tracer::update(const std::string& model, const TraceSettingUpdate& update) {
  // Validate everything into a candidate scope, then commit.
  std::lock_guard<std::mutex> lock(mu_);
  Level candidate = model.empty() ? global_ : (models_.count(model) ? models_.at(model) : Level{});
  const Level defaults = [] {
    Level d;
    d.level = std::vector<std::string>{"OFF"};
    d.rate = 1000;
    d.count = -1;
    d.log_frequency = 0;
    d.mode = "triton";
    return d;
  }();
  for (const auto& [name, value] : update) {
    if (!known_setting(name))
      return bad("unknown trace setting '" + name +
                 "' (expected trace_level, trace_rate, trace_count, log_frequency, trace_mode)");
    if (name == "trace_file") return bad("trace_file can only be set with --trace-file");
    const bool clear = !value.has_value();
    if (!clear && name != "trace_level" && value->size() != 1)
      return bad("trace setting '" + name + "' takes exactly one value");
    if (name == "trace_level") {
      if (clear) {
        candidate.level = model.empty() ? defaults.level : std::nullopt;
        continue;
      }
      if (value->empty()) return bad("trace_level needs at least one of OFF, TIMESTAMPS, TENSORS");
      for (const auto& l : *value)
        if (l != "OFF" && l != "TIMESTAMPS" && l != "TENSORS")
          return bad("trace_level '" + l + "' is not one of OFF, TIMESTAMPS, TENSORS");
      candidate.level = *value;
    } else if (name == "trace_mode") {
      if (!clear && value->front() != "triton")
        return bad("trace_mode '" + value->front() + "' is not supported (only \"triton\")");
      candidate.mode = clear && !model.empty() ? std::nullopt : std::optional<std::string>("triton");
    } else {
      std::optional<int64_t>* field = name == "trace_rate"    ? &candidate.rate
                                      : name == "trace_count" ? &candidate.count
                                                              : &candidate.log_frequency;
      if (clear) {
        *field = model.empty() ? (name == "trace_rate"    ? defaults.rate
                                  : name == "trace_count" ? defaults.count
                                                          : defaults.log_frequency)
                               : std::nullopt;
        continue;
      }
      int64_t v = 0;
      if (!parse_int(value->front(), &v)) return bad(name + " '" + value->front() + "' is not an integer");
      if (name == "trace_rate" && v < 1) return bad("trace_rate must be at least 1, got " + value->front());
      if (name == "trace_count" && v < -1) return bad("trace_count must be -1 (unlimited) or >= 0");
      if (name == "log_frequency" && v < 0) return bad("log_frequency must be >= 0");
      *field = v;
    }
  }
  if (candidate.level && has_timestamps(*candidate.level) && file_.empty())
    return bad("trace_level " + std::string(candidate.level->size() == 1 ? candidate.level->front() : "TIMESTAMPS") +
               " needs a trace file: start kiln serve with --trace-file PATH");
  candidate.seen = 0;
  if (model.empty())
    global_ = std::move(candidate);
  else
    models_[model] = std::move(candidate);
  refresh_enabled_locked();
  return {};
}

void Tracer::refresh_enabled_locked() {
  bool on = global_.level && has_timestamps(*global_.level) && *global_.count != 0;
  for (const auto& [name, m] : models_) {
    Level l = resolve_locked(name);
    on |= has_timestamps(*l.level) && *l.count != 0;
  }
  enabled_.store(on && !file_.empty(), std::memory_order_relaxed);
}

void Tracer::record(const std::string& model, const std::string& version, const std::string& request_id,
                    const TraceTimes& t, const std::vector<InferTensor>* inputs,
                    const std::vector<InferTensor>* outputs) {
  std::lock_guard<std::mutex> lock(mu_);
  Level eff = resolve_locked(model);
  if (!has_timestamps(*eff.level) || *eff.count == 0 || file_.empty()) return;
  // Sampling and the remaining count belong to the scope that set them (the model's own, else the global).
  auto it = models_.find(model);
  Level& rate_scope = it != models_.end() && it->second.rate ? it->second : global_;
  if (rate_scope.seen++ % static_cast<uint64_t>(*eff.rate) != 0) return;
  Level& count_scope = it != models_.end() && it->second.count ? it->second : global_;
  if (*count_scope.count > 0 && --*count_scope.count == 0) refresh_enabled_locked();
  nlohmann::json j;
  j["id"] = next_id_++;
  j["model_name"] = model;
  int64_t v = 0;
  if (parse_int(version, &v))
    j["model_version"] = v;
  else
    j["model_version"] = version;
  if (!request_id.empty()) j["request_id"] = request_id;
  nlohmann::json ts = nlohmann::json::array();
  const std::pair<const char*, uint64_t> stamps[] = {{"REQUEST_START", t.request_start},
                                                     {"QUEUE_START", t.queue_start},
                                                     {"COMPUTE_START", t.compute_start},
                                                     {"COMPUTE_INPUT_END", t.compute_input_end},
                                                     {"COMPUTE_OUTPUT_START", t.compute_output_start},
                                                     {"COMPUTE_END", t.compute_end},
                                                     {"REQUEST_END", t.request_end}};
  for (const auto& [name, ns] : stamps) ts.push_back({{"name", name}, {"ns", ns}});
  j["timestamps"] = std::move(ts);
  if (has_tensors(*eff.level)) {
    nlohmann::json tensors = nlohmann::json::array();
    if (inputs)
      for (const auto& in : *inputs) tensors.push_back(tensor_json("TENSOR_QUEUE_INPUT", in));
    if (outputs)
      for (const auto& out : *outputs) tensors.push_back(tensor_json("TENSOR_BACKEND_OUTPUT", out));
    j["tensors"] = std::move(tensors);
  }
  pending_.push_back(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (pending_.size() >= static_cast<size_t>(std::max<int64_t>(1, *eff.log_frequency))) write_locked();
}

void Tracer::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  write_locked();
}

void Tracer::write_locked() {
  if (pending_.empty() || file_.empty()) return;
  std::FILE* f = std::fopen(file_.c_str(), "a");
  if (!f) {
    log_json("error", "cannot open the trace file", {{"trace_file", file_}});
    pending_.clear();
    return;
  }
  for (const auto& line : pending_) {
    std::fwrite(line.data(), 1, line.size(), f);
    std::fputc('\n', f);
  }
  std::fclose(f);
  pending_.clear();
}

}  // namespace kiln::server
