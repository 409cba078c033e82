// Server status codes, KServe datatype names and structured JSON logging.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "server/inference_server.h"

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

void log_json(const char* level, const std::string& msg, const std::map<std::string, std::string>& fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[80];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
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
