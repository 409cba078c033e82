// kiln perf over KServe v2 HTTP/REST: metadata, config and statistics as JSON; inference with prebuilt bodies
// (JSON tensors, or the binary tensor data extension with --binary-data).
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "perf/client.h"
#include "perf/http_async_load.h"
#include "perf/http_connection.h"
#include "perf/input_data.h"
#include "perf/shm_client.h"

namespace kiln::perf {
namespace {

using json = nlohmann::json;

// Turns a non-200 response into one line: the server's {"error": "..."} message when it sent one.
Status http_error(const HttpResponse& r, const std::string& what) {
  std::string message = r.body.substr(0, 300);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    message = j["error"].get<std::string>();
  const StatusCode code = r.status == 404   ? StatusCode::kNotFound
                          : r.status == 400 ? StatusCode::kInvalidArgument
                                            : StatusCode::kFailedPrecondition;
  return Status(code, what + ": HTTP " + std::to_string(r.status) + ": " + message);
}

// Standard base64 with padding (the CUDA shared-memory extension's raw_handle.b64).
std::string base64(const std::string& in) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kChars[v & 63] : '=';
  }
  return out;
}

uint64_t u64(const json& j, const char* a, const char* b = nullptr) {
  const json* v = &j;
  if (!v->is_object() || !v->contains(a)) return 0;
  v = &(*v)[a];
  if (b) {
    if (!v->is_object() || !v->contains(b)) return 0;
    v = &(*v)[b];
  }
  // Statistics counters may arrive as numbers or (proto3 JSON mapping of uint64) strings.
  if (v->is_number_unsigned() || v->is_number_integer()) return v->get<uint64_t>();
  if (v->is_string()) return std::strtoull(v->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

class HttpWorker final : public InferWorker {
 public:
  HttpWorker(std::string host, int port, std::shared_ptr<const std::vector<std::string>> requests)
      : conn_(std::move(host), port), requests_(std::move(requests)) {}

  Status infer(size_t index, CallTiming* timing) override {
    const std::string& req = (*requests_)[index % requests_->size()];
    const auto t0 = std::chrono::steady_clock::now();
    Status st = conn_.request(req, &response_);
    if (!st.ok()) return st;
    const auto t1 = std::chrono::steady_clock::now();
    if (response_.status != 200) return http_error(response_, "infer");
    if (timing) {
      const int64_t start = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
      const int64_t end = std::chrono::duration_cast<std::chrono::nanoseconds>(t1.time_since_epoch()).count();
      timing->send_ns = response_.sent_ns - start;
      timing->recv_ns = end - response_.first_byte_ns;
    }
    return ok_status();
  }

 private:
  HttpConnection conn_;
  std::shared_ptr<const std::vector<std::string>> requests_;
  HttpResponse response_;
};

class HttpBackend final : public Backend {
 public:
  HttpBackend(std::string host, int port, const PerfOptions& options)
      : host_(std::move(host)), port_(port), options_(options), control_(host_, port_) {}

  Result<ModelInfo> model_info(const std::string& model, const std::string& version) override {
    std::lock_guard<std::mutex> lock(mu_);
    KILN_ASSIGN_OR_RETURN(json md, get_json(model_path(model, version), "model metadata"));
    ModelInfo info;
    info.name = model;
    info.version = version;
    auto tensors = [](const json& arr, std::vector<TensorInfo>* out) -> Status {
      if (!arr.is_array()) return data_loss("model metadata: inputs/outputs are not arrays");
      for (const json& t : arr) {
        TensorInfo ti;
        if (!t.contains("name") || !t.contains("datatype") || !t.contains("shape"))
          return data_loss("model metadata: a tensor lacks name, datatype or shape");
        ti.name = t["name"].get<std::string>();
        ti.datatype = t["datatype"].get<std::string>();
        for (const json& d : t["shape"]) ti.shape.push_back(d.get<int64_t>());
        out->push_back(std::move(ti));
      }
      return ok_status();
    };
    KILN_RETURN_IF_ERROR(tensors(md.value("inputs", json::array()), &info.inputs));
    KILN_RETURN_IF_ERROR(tensors(md.value("outputs", json::array()), &info.outputs));
    auto config = get_json(model_path(model, version) + "/config", "model config");
    if (config.ok()) {
      const json& c = config->contains("config") ? (*config)["config"] : *config;
      info.max_batch_size = static_cast<int64_t>(u64(c, "max_batch_size"));
    }
    return info;
  }

  Result<ServerStats> statistics(const std::string& model, const std::string& version) override {
    std::lock_guard<std::mutex> lock(mu_);
    KILN_ASSIGN_OR_RETURN(json j, get_json(model_path(model, version) + "/stats", "model statistics"));
    ServerStats s;
    if (!j.contains("model_stats") || !j["model_stats"].is_array()) return data_loss("statistics: no model_stats");
    for (const json& m : j["model_stats"]) {
      s.inference_count += u64(m, "inference_count");
      s.execution_count += u64(m, "execution_count");
      if (!m.contains("inference_stats")) continue;
      const json& is = m["inference_stats"];
      s.success_count += u64(is, "success", "count");
      s.success_ns += u64(is, "success", "ns");
      s.queue_count += u64(is, "queue", "count");
      s.queue_ns += u64(is, "queue", "ns");
      s.compute_input_count += u64(is, "compute_input", "count");
      s.compute_input_ns += u64(is, "compute_input", "ns");
      s.compute_infer_count += u64(is, "compute_infer", "count");
      s.compute_infer_ns += u64(is, "compute_infer", "ns");
      s.compute_output_count += u64(is, "compute_output", "count");
      s.compute_output_ns += u64(is, "compute_output", "ns");
    }
    return s;
  }

  ~HttpBackend() override { release_shm(); }

  Status prepare(const ModelInfo& model, const std::vector<RequestInputs>& requests) override {
    auto built = std::make_shared<std::vector<std::string>>();
    const std::string path = model_path(model.name, model.version) + "/infer";
    if (options_.shared_memory != ShmKind::kNone) KILN_RETURN_IF_ERROR(setup_shm(model, requests));
    for (size_t r = 0; r < requests.size(); ++r) {
      const RequestInputs& inputs = requests[r];
      const ShmRequestRegions* shm = shm_ ? &shm_->requests()[r] : nullptr;
      std::string header = "{\"inputs\":[";
      for (size_t i = 0; i < inputs.size(); ++i) {
        const InputTensor& t = inputs[i];
        if (i) header += ',';
        header += "{\"name\":" + json(t.name).dump() + ",\"datatype\":\"" + t.datatype + "\",\"shape\":[";
        for (size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
        header += "]";
        if (shm) {
          header += ",\"parameters\":" + shm_params(shm->inputs[i]) + "}";
        } else if (options_.binary_data) {
          header += ",\"parameters\":{\"binary_data_size\":" + std::to_string(t.bytes.size()) + "}}";
        } else {
          header += ",\"data\":[";
          append_json_values(t, &header);
          header += "]}";
        }
      }
      header += "]";
      if (shm) {
        header += ",\"outputs\":[";
        for (size_t i = 0; i < model.outputs.size(); ++i)
          header += (i ? ",{\"name\":" : "{\"name\":") + json(model.outputs[i].name).dump() +
                    ",\"parameters\":" + shm_params(shm->outputs[i]) + "}";
        header += "]";
      } else if (options_.binary_data) {
        header += ",\"outputs\":[";
        for (size_t i = 0; i < model.outputs.size(); ++i)
          header += (i ? ",{\"name\":" : "{\"name\":") + json(model.outputs[i].name).dump() +
                    ",\"parameters\":{\"binary_data\":true}}";
        header += "]";
      }
      header += "}";
      std::string body = header;
      std::string extra;
      if (options_.binary_data && !shm) {
        for (const InputTensor& t : inputs) body += t.bytes;
        extra = "Inference-Header-Content-Length: " + std::to_string(header.size()) + "\r\n";
      }
      const std::string type = options_.binary_data && !shm ? "application/octet-stream" : "application/json";
      if (body.size() > options_.max_message_bytes)
        return resource_exhausted("the request body (" + std::to_string(body.size()) + " bytes) is over the limit");
      built->push_back(control_.make_post_head(path, type, body.size(), extra) + body);
    }
    requests_ = std::move(built);
    return ok_status();
  }

  Result<std::unique_ptr<AsyncLoad>> start_async_load(int concurrency, size_t data_sets, RecordFn record) override {
    if (!requests_) return failed_precondition("prepare() was not called");
    return start_http_async_load(host_, port_, requests_, concurrency, std::move(record),
                                 [](int status, const std::string& body) {
                                   HttpResponse r;
                                   r.status = status;
                                   r.body = body;
                                   return http_error(r, "infer");
                                 });
  }

  Result<std::unique_ptr<InferWorker>> make_worker() override {
    if (!requests_) return failed_precondition("prepare() was not called");
    return std::unique_ptr<InferWorker>(std::make_unique<HttpWorker>(host_, port_, requests_));
  }

 private:
  // A tensor's shared_memory_* parameters as a JSON object (the offset only when non-zero).
  static std::string shm_params(const ShmTensorRef& ref) {
    std::string p = "{\"shared_memory_region\":" + json(ref.region).dump() +
                    ",\"shared_memory_byte_size\":" + std::to_string(ref.byte_size);
    if (ref.offset) p += ",\"shared_memory_offset\":" + std::to_string(ref.offset);
    return p + "}";
  }
  // The extension's path prefix: v2/systemsharedmemory or v2/cudasharedmemory.
  std::string shm_route() const {
    return options_.shared_memory == ShmKind::kCuda ? "/v2/cudasharedmemory" : "/v2/systemsharedmemory";
  }
  // Creates the shared memory and registers every region (POST .../region/NAME/register).
  Status setup_shm(const ModelInfo& model, const std::vector<RequestInputs>& requests) {
    release_shm();
    KILN_ASSIGN_OR_RETURN(shm_, PerfShm::create(options_.shared_memory, model, requests, options_.batch_size,
                                                options_.output_shared_memory_size, options_.cuda_device));
    for (const ShmRegistration& r : shm_->registrations()) {
      json body = shm_->kind() == ShmKind::kCuda
                      ? json{{"raw_handle", {{"b64", base64(r.raw_handle)}}},
                             {"device_id", r.device},
                             {"byte_size", r.byte_size}}
                      : json{{"key", r.key}, {"offset", r.offset}, {"byte_size", r.byte_size}};
      KILN_RETURN_IF_ERROR(post_json(shm_route() + "/region/" + url_escape(r.name) + "/register", body.dump(),
                                     "register shared memory region '" + r.name + "'"));
      registered_.push_back(r.name);
    }
    return ok_status();
  }
  // Unregisters the regions, then frees the memory (the server has closed its mappings by then).
  void release_shm() {
    for (const std::string& name : registered_)
      (void)post_json(shm_route() + "/region/" + url_escape(name) + "/unregister", "", "unregister");
    registered_.clear();
    shm_.reset();
  }
  Status post_json(const std::string& path, const std::string& body, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    HttpResponse r;
    KILN_RETURN_IF_ERROR(
        control_.request(control_.make_post_head(path, "application/json", body.size(), "") + body, &r));
    if (r.status != 200) return http_error(r, what);
    return ok_status();
  }

  std::string model_path(const std::string& model, const std::string& version) const {
    std::string p = "/v2/models/" + url_escape(model);
    if (!version.empty()) p += "/versions/" + url_escape(version);
    return p;
  }

  Result<json> get_json(const std::string& path, const std::string& what) {
    HttpResponse r;
    KILN_RETURN_IF_ERROR(control_.request(control_.make_get(path), &r));
    if (r.status != 200) return http_error(r, what);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return data_loss(what + ": the server's response is not JSON");
    return j;
  }

  std::string host_;
  int port_;
  PerfOptions options_;
  std::mutex mu_;
  HttpConnection control_;  // metadata and statistics
  std::shared_ptr<const std::vector<std::string>> requests_;
  std::unique_ptr<PerfShm> shm_;
  std::vector<std::string> registered_;
};

}  // namespace

ServerStats ServerStats::minus(const ServerStats& e) const {
  ServerStats d;
  d.inference_count = inference_count - e.inference_count;
  d.execution_count = execution_count - e.execution_count;
  d.success_count = success_count - e.success_count;
  d.success_ns = success_ns - e.success_ns;
  d.queue_count = queue_count - e.queue_count;
  d.queue_ns = queue_ns - e.queue_ns;
  d.compute_input_count = compute_input_count - e.compute_input_count;
  d.compute_input_ns = compute_input_ns - e.compute_input_ns;
  d.compute_infer_count = compute_infer_count - e.compute_infer_count;
  d.compute_infer_ns = compute_infer_ns - e.compute_infer_ns;
  d.compute_output_count = compute_output_count - e.compute_output_count;
  d.compute_output_ns = compute_output_ns - e.compute_output_ns;
  return d;
}

Result<std::unique_ptr<Backend>> make_http_backend(const std::string& host, int port, const PerfOptions& options) {
  return std::unique_ptr<Backend>(std::make_unique<HttpBackend>(host, port, options));
}

}  // namespace kiln::perf
