// HTTP/JSON side of the trace and logging extensions (Triton's v2/trace/setting and v2/logging shapes).
#include "server/http_extensions.h"

#include <nlohmann/json.hpp>

#include "server/trace.h"

namespace kiln::server {

namespace {

std::string error_body(const std::string& message) { return nlohmann::json{{"error", message}}.dump(); }

nlohmann::json trace_json(const TraceSettingMap& settings) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, values] : settings) {
    if (name == "trace_level")
      out[name] = values;  // a list, as in Triton
    else
      out[name] = values.empty() ? "" : values.front();
  }
  return out;
}

nlohmann::json log_json_doc() {
  LogSettings s = log_settings();
  return {{"log_file", ""},           {"log_info", s.info},
          {"log_warning", s.warning}, {"log_error", s.error},
          {"log_verbose_level", s.verbose_level}, {"log_format", s.format}};
}

// Parses a JSON object body; false with *error set otherwise.
bool parse_object(std::string_view body, nlohmann::json* out, std::string* error) {
  if (body.size() > (1 << 20)) {
    *error = "settings body is too large";
    return false;
  }
  *out = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    *error = "malformed JSON in the request body (expected an object of settings)";
    return false;
  }
  return true;
}

// One trace setting value: a string, an integer, a list of strings, or null (clear).
bool trace_value(const std::string& name, const nlohmann::json& v, std::optional<std::vector<std::string>>* out,
                 std::string* error) {
  if (v.is_null()) {
    *out = std::nullopt;
    return true;
  }
  std::vector<std::string> values;
  auto one = [&](const nlohmann::json& e) {
    if (e.is_string()) {
      values.push_back(e.get<std::string>());
      return true;
    }
    if (e.is_number_integer()) {
      values.push_back(std::to_string(e.get<int64_t>()));
      return true;
    }
    return false;
  };
  bool ok = true;
  if (v.is_array()) {
    if (v.size() > 16) ok = false;
    for (const auto& e : v) ok = ok && one(e);
  } else {
    ok = one(v);
  }
  if (!ok) {
    *error = "trace setting '" + name + "' must be a string, a list of strings or null";
    return false;
  }
  *out = std::move(values);
  return true;
}

void handle_trace(InferenceServer& server, const std::string& model, bool post, std::string_view request_body,
                  int* code, std::string* body) {
  if (!model.empty()) {
    bool known = false;
    for (const auto& e : server.repository_index(false)) known |= e.name == model;
    if (!known) {
      *code = 404;
      *body = error_body("unknown model '" + model + "'");
      return;
    }
  }
  if (post) {
    nlohmann::json doc;
    std::string error;
    TraceSettingUpdate update;
    bool ok = parse_object(request_body, &doc, &error);
    for (auto it = ok ? doc.begin() : doc.end(); ok && it != doc.end(); ++it)
      ok = trace_value(it.key(), it.value(), &update[it.key()], &error);
    ServerStatus st = ok ? Tracer::get().update(model, update) : server_error(ServerCode::kInvalidArgument, error);
    if (!st.ok()) {
      *code = 400;
      *body = error_body(st.message);
      return;
    }
    log_json("info", "trace settings updated", {{"model", model}, {"settings", doc.dump()}});
  }
  *code = 200;
  *body = trace_json(Tracer::get().settings(model)).dump();
}

void handle_logging(bool post, std::string_view request_body, int* code, std::string* body) {
  if (post) {
    nlohmann::json doc;
    std::string error;
    std::map<std::string, ParamValue> update;
    bool ok = parse_object(request_body, &doc, &error);
    for (auto it = ok ? doc.begin() : doc.end(); ok && it != doc.end(); ++it) {
      const auto& v = it.value();
      if (v.is_boolean())
        update[it.key()] = v.get<bool>();
      else if (v.is_number_integer())
        update[it.key()] = v.get<int64_t>();
      else if (v.is_string())
        update[it.key()] = v.get<std::string>();
      else if (v.is_number())
        update[it.key()] = v.get<double>();
      else {
        ok = false;
        error = "log setting '" + it.key() + "' must be a boolean, an integer or a string";
      }
    }
    ServerStatus st = ok ? update_log_settings(update) : server_error(ServerCode::kInvalidArgument, error);
    if (!st.ok()) {
      *code = 400;
      *body = error_body(st.message);
      return;
    }
  }
  *code = 200;
  *body = log_json_doc().dump();
}

}  // namespace

bool handle_http_extension(InferenceServer& server, const std::vector<std::string>& seg, bool get, bool post,
                           std::string_view request_body, int* code, std::string* body) {
  std::string model;
  bool trace = false, logging = false;
  if (seg.size() == 3 && seg[0] == "v2" && seg[1] == "trace" && seg[2] == "setting") {
    trace = true;
  } else if (seg.size() == 5 && seg[0] == "v2" && seg[1] == "models" && seg[3] == "trace" && seg[4] == "setting") {
    trace = true;
    model = seg[2];
  } else if (seg.size() == 2 && seg[0] == "v2" && seg[1] == "logging") {
    logging = true;
  }
  if (!trace && !logging) return false;
  if (!get && !post) {
    *code = 405;
    *body = error_body(std::string("method not allowed for ") + (trace ? "trace settings" : "v2/logging"));
    return true;
  }
  if (trace)
    handle_trace(server, model, post, request_body, code, body);
  else
    handle_logging(post, request_body, code, body);
  return true;
}

}  // namespace kiln::server
