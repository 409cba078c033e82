// KServe v2 / Triton extension JSON documents: errors, server and model metadata, config, statistics, index.
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "server/http_codec.h"

namespace kiln::server {

using nlohmann::json;

std::string error_json(const std::string& message) {
  json j;
  j["error"] = message;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string server_metadata_json(const ServerMetadata& md) {
  json j;
  j["name"] = md.name;
  j["version"] = md.version;
  j["extensions"] = md.extensions;
  return j.dump();
}

std::string model_metadata_json(const ModelMetadata& md) {
  json j;
  j["name"] = md.name;
  j["versions"] = md.versions;
  j["platform"] = md.platform;
  auto tensors = [](const std::vector<TensorMetadata>& ts) {
    json a = json::array();
    for (const auto& t : ts) a.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
    return a;
  };
  j["inputs"] = tensors(md.inputs);
  j["outputs"] = tensors(md.outputs);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string model_config_json(const ModelConfig& config) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(config, &out, opts).ok()) return error_json("cannot print config");
  return out;
}

std::string model_stats_json(const std::vector<ModelStats>& stats) {
  auto dur = [](const StatDuration& d) { return json{{"count", d.count}, {"ns", d.ns}}; };
  json arr = json::array();
  for (const auto& s : stats) {
    json m;
    m["name"] = s.name;
    m["version"] = s.version;
    m["last_inference"] = s.last_inference_ms;
    m["inference_count"] = s.inference_count;
    m["execution_count"] = s.execution_count;
    m["inference_stats"] = {{"success", dur(s.success)},
                            {"fail", dur(s.fail)},
                            {"queue", dur(s.queue)},
                            {"compute_input", dur(s.compute_input)},
                            {"compute_infer", dur(s.compute_infer)},
                            {"compute_output", dur(s.compute_output)}};
    json batches = json::array();
    for (const auto& b : s.batch_stats)
      batches.push_back({{"batch_size", b.batch_size},
                         {"compute_input", dur(b.compute_input)},
                         {"compute_infer", dur(b.compute_infer)},
                         {"compute_output", dur(b.compute_output)}});
    m["batch_stats"] = batches;
    m["pending_request_count"] = s.pending_requests;
    m["failures_by_reason"] = s.failures_by_reason;
    arr.push_back(std::move(m));
  }
  json j;
  j["model_stats"] = arr;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string repository_index_json(const std::vector<RepositoryEntry>& entries) {
  json a = json::array();
  for (const auto& e : entries) {
    json x{{"name", e.name}, {"state", e.state}};
    if (!e.version.empty()) x["version"] = e.version;
    if (!e.reason.empty()) x["reason"] = e.reason;
    a.push_back(std::move(x));
  }
  return a.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace kiln::server
