// HTTP routes of Triton's CUDA shared-memory extension (v2/cudasharedmemory/...), answered from the ShmRegistry.
#include <cstdint>
#include <new>
#include <nlohmann/json.hpp>

#include "server/cuda_shm.h"
#include "server/http_codec.h"
#include "server/http_connection.h"
#include "server/shm_registry.h"

namespace kiln::server {

namespace {

// Standard base64 (RFC 4648, '=' padding optional, no whitespace). false on any other character.
bool base64_decode(const std::string& in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t n = in.size();
  while (n > 0 && in[n - 1] == '=') --n;
  if (in.size() - n > 2 || n % 4 == 1) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    int v = value(in[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

void reply(int status, nlohmann::json doc, int* code, std::string* out) {
  *code = status;
  *out = doc.dump();
}
void error(int status, const std::string& message, int* code, std::string* out) {
  *code = status;
  *out = error_json(message);
}

}  // namespace

namespace {
void route(InferenceServer& server, const std::vector<std::string>& seg, bool get, bool post, std::string_view body,
           int* code, std::string* out) {
  std::string path;
  for (const auto& s : seg) path += "/" + s;
  std::string name, action;
  if (!shm_path_parts(seg, &name, &action)) return error(404, "not found: " + path, code, out);
  ShmRegistry& shm = server.shared_memory();
  if (action == "status") {
    if (!get) return error(405, "method not allowed for " + path, code, out);
    std::vector<CudaShmRegionStatus> regions;
    ServerStatus st = shm.cuda_status(name, &regions);
    if (!st.ok()) return error(400, st.message, code, out);
    nlohmann::json doc = nlohmann::json::array();
    for (const auto& r : regions)
      doc.push_back({{"name", r.name}, {"device_id", r.device_id}, {"byte_size", r.byte_size}});
    return reply(200, std::move(doc), code, out);
  }
  if (!post) return error(405, "method not allowed for " + path, code, out);
  if (action == "unregister") {
    ServerStatus st = shm.unregister_cuda(name);
    return st.ok() ? reply(200, nlohmann::json::object(), code, out) : error(400, st.message, code, out);
  }
  if (action != "register" || name.empty()) return error(404, "not found: " + path, code, out);
  if (json_nesting_depth(body.data(), body.size()) > 64)
    return error(400, "request JSON is nested too deeply", code, out);
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error(400, "malformed JSON in the request body", code, out);
  std::string handle;
  auto rh = j.find("raw_handle");
  if (rh == j.end() || !rh->is_object() || !rh->contains("b64") || !(*rh)["b64"].is_string())
    return error(400, "'raw_handle' must be {\"b64\": \"<base64 cudaIpcMemHandle_t>\"}", code, out);
  if (!base64_decode((*rh)["b64"].get<std::string>(), &handle))
    return error(400, "'raw_handle.b64' is not valid base64", code, out);
  auto uint_field = [&](const char* field, uint64_t* v) {
    auto it = j.find(field);
    if (it == j.end() || !(it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0)))
      return false;
    *v = it->get<uint64_t>();
    return true;
  };
  uint64_t device_id = 0, byte_size = 0;
  if (!uint_field("device_id", &device_id)) return error(400, "'device_id' must be a non-negative integer", code, out);
  if (!uint_field("byte_size", &byte_size)) return error(400, "'byte_size' must be a non-negative integer", code, out);
  if (device_id > static_cast<uint64_t>(INT32_MAX)) return error(400, "'device_id' is out of range", code, out);
  ServerStatus st = shm.register_cuda_region(name, handle, static_cast<int64_t>(device_id), byte_size);
  if (!st.ok()) {
    log_json("warning", st.message, {{"path", path}, {"code", server_code_name(st.code)}});
    return error(400, st.message, code, out);
  }
  return reply(200, nlohmann::json::object(), code, out);
}
}  // namespace

void handle_cuda_shm_http(InferenceServer& server, const std::vector<std::string>& seg, bool get, bool post,
                          std::string_view body, int* code, std::string* out) {
  try {
    route(server, seg, get, post, body, code, out);
  } catch (const std::bad_alloc&) {
    *code = 500;
    *out = "{\"error\":\"out of memory\"}";
  }
}

}  // namespace kiln::server
