// Server status codes, KServe datatype names, structured JSON logging and its settings (logging extension).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <variant>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "server/inference_server.h"
#include "server/trace.h"

namespace kiln::server {

ServerStatus ServerStatus::from(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return {};
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnimplemented:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDataLoss:
      return {ServerCode::kInvalidArgument, status.message()};
    case StatusCode::kNotFound:
      return {ServerCode::kNotFound, status.message()};
    default:
      return {ServerCode::kInternal, status.message()};
  }
}

int http_status_code(ServerCode code) {
  switch (code) {
    case ServerCode::kOk:
      return 200;
    case ServerCode::kInvalidArgument:
      return 400;
    case ServerCode::kNotFound:
      return 404;
    case ServerCode::kUnavailable:
      return 503;
    case ServerCode::kQueueFull:
      return 429;
    case ServerCode::kTimeout:
      return 504;
    case ServerCode::kCancelled:
      return 499;
    case ServerCode::kPayloadTooLarge:
      return 413;
    case ServerCode::kAlreadyExists:
      return 409;
    case ServerCode::kInternal:
      return 500;
  }
  return 500;
}

const char* server_code_name(ServerCode code) {
  switch (code) {
    case ServerCode::kOk:
      return "OK";
    case ServerCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case ServerCode::kNotFound:
      return "NOT_FOUND";
    case ServerCode::kUnavailable:
      return "UNAVAILABLE";
    case ServerCode::kQueueFull:
      return "QUEUE_FULL";
    case ServerCode::kTimeout:
      return "TIMEOUT";
    case ServerCode::kCancelled:
      return "CANCELLED";
    case ServerCode::kPayloadTooLarge:
      return "PAYLOAD_TOO_LARGE";
    case ServerCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case ServerCode::kInternal:
      return "INTERNAL";
  }
  return "INTERNAL";
}

namespace {
struct DatatypeName {
  DType dtype;
  const char* name;
  DataType config;
};
constexpr DatatypeName kDatatypes[] = {
    {DType::kBool, "BOOL", TYPE_BOOL},       {DType::kUInt8, "UINT8", TYPE_UINT8},
    {DType::kUInt16, "UINT16", TYPE_UINT16}, {DType::kUInt32, "UINT32", TYPE_UINT32},
    {DType::kUInt64, "UINT64", TYPE_UINT64}, {DType::kInt8, "INT8", TYPE_INT8},
    {DType::kInt16, "INT16", TYPE_INT16},    {DType::kInt32, "INT32", TYPE_INT32},
    {DType::kInt64, "INT64", TYPE_INT64},    {DType::kFloat16, "FP16", TYPE_FP16},
    {DType::kBFloat16, "BF16", TYPE_BF16},   {DType::kFloat32, "FP32", TYPE_FP32},
    {DType::kFloat64, "FP64", TYPE_FP64},    {DType::kString, "BYTES", TYPE_STRING},
};
}  // namespace

bool datatype_from_name(const std::string& name, DType* out) {
  for (const auto& d : kDatatypes) {
    if (name == d.name) {
      *out = d.dtype;
      return true;
    }
  }
  return false;
}

const char* datatype_name(DType dtype) {
  for (const auto& d : kDatatypes)
    if (d.dtype == dtype) return d.name;
  return "";
}

bool dtype_from_config(DataType type, DType* out) {
  for (const auto& d : kDatatypes) {
    if (d.config == type) {
      *out = d.dtype;
      return true;
    }
  }
  return false;
}

DataType config_from_dtype(DType dtype) {
  for (const auto& d : kDatatypes)
    if (d.dtype == dtype) return d.config;
  return TYPE_INVALID;
}

// ---- log settings (trace.h) and log_json --------------------------------------------------------------------
namespace {
std::mutex g_log_settings_mu;
LogSettings g_log_settings;                    // guarded by g_log_settings_mu
std::atomic<int> g_log_verbose{0};             // copies of the settings that log_json reads without the lock
std::atomic<bool> g_log_info{true}, g_log_warning{true}, g_log_error{true}, g_log_iso8601{false};
}  // namespace

LogSettings log_settings() {
  std::lock_guard<std::mutex> lock(g_log_settings_mu);
  return g_log_settings;
}

void set_log_settings(const LogSettings& s) {
  std::lock_guard<std::mutex> lock(g_log_settings_mu);
  g_log_settings = s;
  g_log_verbose.store(static_cast<int>(std::min<uint32_t>(s.verbose_level, 1u << 30)));
  g_log_info.store(s.info);
  g_log_warning.store(s.warning);
  g_log_error.store(s.error);
  g_log_iso8601.store(s.format == "ISO8601");
}

int log_verbose_level() { return g_log_verbose.load(std::memory_order_relaxed); }

ServerStatus update_log_settings(const std::map<std::string, ParamValue>& update) {
  LogSettings s = log_settings();
  for (const auto& entry : update) {
    const std::string& name = entry.first;  // not a structured binding: the lambda below captures it (clang 14)
    const ParamValue& value = entry.second;
    auto bad = [&](const std::string& what) {
      return server_error(ServerCode::kInvalidArgument, "log setting '" + name + "' " + what);
    };
    if (name == "log_info" || name == "log_warning" || name == "log_error") {
      if (!std::holds_alternative<bool>(value)) return bad("must be a boolean");
      (name == "log_info" ? s.info : name == "log_warning" ? s.warning : s.error) = std::get<bool>(value);
    } else if (name == "log_verbose_level") {
      if (!std::holds_alternative<int64_t>(value)) return bad("must be a non-negative integer");
      int64_t v = std::get<int64_t>(value);
      if (v < 0 || v > UINT32_MAX) return bad("must be a non-negative integer, got " + std::to_string(v));
      s.verbose_level = static_cast<uint32_t>(v);
    } else if (name == "log_format") {
      if (!std::holds_alternative<std::string>(value)) return bad("must be a string");
      const std::string& f = std::get<std::string>(value);
      if (f != "default" && f != "ISO8601") return bad("must be \"default\" or \"ISO8601\", got \"" + f + "\"");
      s.format = f;
    } else if (name == "log_file") {
      return server_error(ServerCode::kInvalidArgument,
                          "log_file cannot be set through the API: kiln serve logs to stderr");
    } else {
      return server_error(ServerCode::kInvalidArgument,
                          "unknown log setting '" + name +
                              "' (expected log_info, log_warning, log_error, log_verbose_level, log_format)");
    }
  }
  set_log_settings(s);
  return {};
}

void log_json(const char* level, const std::string& msg, const std::map<std::string, std::string>& fields) {
  using namespace std::chrono;
  // Levels switched off by the logging extension print nothing ("warn"/"warning" share a switch).
  const std::string_view lv(level);
  if (lv == "error" ? !g_log_error.load(std::memory_order_relaxed)
      : lv.rfind("warn", 0) == 0 ? !g_log_warning.load(std::memory_order_relaxed)
                                 : !g_log_info.load(std::memory_order_relaxed))
    return;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[80];
  if (g_log_iso8601.load(std::memory_order_relaxed))
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
  else
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  nlohmann::json j;
  j["ts"] = ts;
  j["level"] = level;
  j["msg"] = msg;
  for (const auto& [k, v] : fields) j[k] = v;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace kiln::server
