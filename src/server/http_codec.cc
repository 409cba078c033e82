// KServe v2 JSON codec: infer request parsing (JSON and binary tensors), response writing, metadata documents.
#include "server/http_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "server/tensor_codec.h"

namespace kiln::server {

using nlohmann::json;

namespace {

constexpr size_t kMaxJsonDepth = 64;

ServerStatus bad(std::string message) { return server_error(ServerCode::kInvalidArgument, std::move(message)); }

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;
  return static_cast<uint16_t>(half);
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  x += 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}
float bf16_to_float(uint16_t b) {
  uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

int64_t count_leaves(const json& j) {
  if (!j.is_array()) return 1;
  int64_t n = 0;
  for (const auto& e : j) n += count_leaves(e);
  return n;
}

template <typename T>
bool put_int(const json& v, char* dst) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    T t = static_cast<T>(u);
    std::memcpy(dst, &t, sizeof t);
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0) return false;
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max()))
        return false;
    }
    T t = static_cast<T>(i);
    std::memcpy(dst, &t, sizeof t);
    return true;
  }
  return false;
}

// Writes one JSON element as `dtype` at dst (non-BYTES types).
bool put_element(const json& v, DType dtype, char* dst) {
  switch (dtype) {
    case DType::kBool:
      if (!v.is_boolean()) return false;
      *dst = v.get<bool>() ? 1 : 0;
      return true;
    case DType::kUInt8:
      return put_int<uint8_t>(v, dst);
    case DType::kUInt16:
      return put_int<uint16_t>(v, dst);
    case DType::kUInt32:
      return put_int<uint32_t>(v, dst);
    case DType::kUInt64:
      return put_int<uint64_t>(v, dst);
    case DType::kInt8:
      return put_int<int8_t>(v, dst);
    case DType::kInt16:
      return put_int<int16_t>(v, dst);
    case DType::kInt32:
      return put_int<int32_t>(v, dst);
    case DType::kInt64:
      return put_int<int64_t>(v, dst);
    default:
      break;
  }
  if (!v.is_number()) return false;
  double d = v.get<double>();
  switch (dtype) {
    case DType::kFloat32: {
      float f = static_cast<float>(d);
      std::memcpy(dst, &f, 4);
      return true;
    }
    case DType::kFloat64:
      std::memcpy(dst, &d, 8);
      return true;
    case DType::kFloat16: {
      uint16_t h = float_to_half(static_cast<float>(d));
      std::memcpy(dst, &h, 2);
      return true;
    }
    case DType::kBFloat16: {
      uint16_t h = float_to_bf16(static_cast<float>(d));
      std::memcpy(dst, &h, 2);
      return true;
    }
    default:
      return false;
  }
}

void flatten(const json& j, std::vector<const json*>* out) {
  if (!j.is_array()) {
    out->push_back(&j);
    return;
  }
  for (const auto& e : j) flatten(e, out);
}

ServerStatus parse_parameters(const json& j, Parameters* out, const std::string& where) {
  if (!j.is_object()) return bad(where + " must be an object");
  for (const auto& [k, v] : j.items()) {
    if (v.is_boolean())
      (*out)[k] = v.get<bool>();
    else if (v.is_number_integer() || v.is_number_unsigned())
      (*out)[k] = v.get<int64_t>();
    else if (v.is_number_float())
      (*out)[k] = v.get<double>();
    else if (v.is_string())
      (*out)[k] = v.get<std::string>();
    else
      return bad(where + "." + k + " must be a bool, number or string");
  }
  return {};
}

bool bool_param(const Parameters& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end()) return false;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  return false;
}

void append_number(std::string* s, double v) {
  if (!std::isfinite(v)) {
    *s += std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");  // as Python's json module writes them
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s->append(buf, r.ptr);
}
void append_float(std::string* s, float v) {
  if (!std::isfinite(v)) return append_number(s, v);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s->append(buf, r.ptr);
}
template <typename T>
void append_int(std::string* s, T v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  s->append(buf, r.ptr);
}

void append_json_string(std::string* s, const std::string& v) {
  *s += json(v).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Appends the tensor's elements as a flat JSON array.
void append_data(std::string* s, const InferTensor& t) {
  *s += '[';
  const char* p = t.data.data();
  size_t n = 0;
  auto sep = [&] {
    if (n++) *s += ',';
  };
  if (t.dtype == DType::kString) {
    size_t pos = 0;
    while (pos + 4 <= t.data.size()) {
      uint32_t len;
      std::memcpy(&len, p + pos, 4);
      sep();
      append_json_string(s, t.data.substr(pos + 4, len));
      pos += 4 + len;
    }
    *s += ']';
    return;
  }
  size_t elem = dtype_size(t.dtype);
  size_t count = elem ? t.data.size() / elem : 0;
  for (size_t i = 0; i < count; ++i) {
    sep();
    const char* e = p + i * elem;
    switch (t.dtype) {
      case DType::kBool:
        *s += (*e ? "true" : "false");
        break;
#define KILN_INT_CASE(D, T)       \
  case D: {                       \
    T v;                          \
    std::memcpy(&v, e, sizeof v); \
    append_int(s, v);             \
    break;                        \
  }
        KILN_INT_CASE(DType::kUInt8, uint8_t)
        KILN_INT_CASE(DType::kUInt16, uint16_t)
        KILN_INT_CASE(DType::kUInt32, uint32_t)
        KILN_INT_CASE(DType::kUInt64, uint64_t)
        KILN_INT_CASE(DType::kInt8, int8_t)
        KILN_INT_CASE(DType::kInt16, int16_t)
        KILN_INT_CASE(DType::kInt32, int32_t)
        KILN_INT_CASE(DType::kInt64, int64_t)
#undef KILN_INT_CASE
      case DType::kFloat32: {
        float v;
        std::memcpy(&v, e, 4);
        append_float(s, v);
        break;
      }
      case DType::kFloat64: {
        double v;
        std::memcpy(&v, e, 8);
        append_number(s, v);
        break;
      }
      case DType::kFloat16: {
        uint16_t v;
        std::memcpy(&v, e, 2);
        append_float(s, half_to_float(v));
        break;
      }
      case DType::kBFloat16: {
        uint16_t v;
        std::memcpy(&v, e, 2);
        append_float(s, bf16_to_float(v));
        break;
      }
      default:
        *s += "null";
        break;
    }
  }
  *s += ']';
}

void append_parameters(std::string* s, const Parameters& p) {
  *s += '{';
  bool first = true;
  for (const auto& [k, v] : p) {
    if (!first) *s += ',';
    first = false;
    append_json_string(s, k);
    *s += ':';
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, bool>)
            *s += x ? "true" : "false";
          else if constexpr (std::is_same_v<T, int64_t>)
            append_int(s, x);
          else if constexpr (std::is_same_v<T, double>)
            append_number(s, x);
          else
            append_json_string(s, x);
        },
        v);
  }
  *s += '}';
}

}  // namespace

bool OutputPrefs::wants_binary(const std::string& name) const {
  auto it = binary.find(name);
  return it != binary.end() ? it->second : all_binary;
}

size_t json_nesting_depth(const char* data, size_t size) {
  size_t depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    char c = data[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{')
      max_depth = std::max(max_depth, ++depth);
    else if ((c == ']' || c == '}') && depth > 0)
      --depth;
  }
  return max_depth;
}

size_t json_element_bound(const char* data, size_t size) {
  size_t count = 1;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    char c = data[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == ',' || c == '[' || c == '{')
      ++count;
  }
  return count;
}

ServerStatus parse_infer_request(const char* body, size_t size, int64_t header_length, InferRequest* req,
                                 OutputPrefs* prefs, bool binary_views, size_t max_json_elements) {
  size_t json_size = size;
  if (header_length >= 0) {
    if (static_cast<uint64_t>(header_length) > size)
      return bad("Inference-Header-Content-Length " + std::to_string(header_length) + " exceeds the body size " +
                 std::to_string(size));
    json_size = static_cast<size_t>(header_length);
  }
  if (json_nesting_depth(body, json_size) > kMaxJsonDepth)
    return bad("request JSON is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if (max_json_elements > 0) {
    size_t elements = json_element_bound(body, json_size);
    if (elements > max_json_elements)
      return bad("request JSON has about " + std::to_string(elements) + " values, above the server's limit of " +
                 std::to_string(max_json_elements) +
                 " (--http-max-json-elements); send large tensors as binary data (binary_data_size)");
  }
  json j = json::parse(body, body + json_size, nullptr, false);
  if (j.is_discarded()) return bad("malformed JSON in the request body");
  if (!j.is_object()) return bad("the request body must be a JSON object");
  const char* binary = body + json_size;
  size_t binary_size = size - json_size, binary_used = 0;
  if (j.contains("id")) {
    if (!j["id"].is_string()) return bad("'id' must be a string");
    req->id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    ServerStatus st = parse_parameters(j["parameters"], &req->parameters, "parameters");
    if (!st.ok()) return st;
    prefs->all_binary = bool_param(req->parameters, "binary_data_output");
  }
  if (!j.contains("inputs") || !j["inputs"].is_array()) return bad("'inputs' must be an array");
  for (const auto& in : j["inputs"]) {
    if (!in.is_object()) return bad("each input must be an object");
    InferTensor t;
    if (!in.contains("name") || !in["name"].is_string()) return bad("input 'name' must be a string");
    t.name = in["name"].get<std::string>();
    if (!in.contains("datatype") || !in["datatype"].is_string())
      return bad("input '" + t.name + "': 'datatype' must be a string");
    std::string dt = in["datatype"].get<std::string>();
    if (!datatype_from_name(dt, &t.dtype)) return bad("input '" + t.name + "': unknown datatype '" + dt + "'");
    if (!in.contains("shape") || !in["shape"].is_array())
      return bad("input '" + t.name + "': 'shape' must be an array");
    for (const auto& d : in["shape"]) {
      if (!d.is_number_integer() && !d.is_number_unsigned())
        return bad("input '" + t.name + "': shape entries must be integers");
      int64_t v = d.get<int64_t>();
      if (v < 0) return bad("input '" + t.name + "': shape entries must be >= 0");
      t.shape.push_back(v);
    }
    if (t.shape.size() > 32) return bad("input '" + t.name + "': rank above 32");
    int64_t numel = dims_numel(t.shape);
    if (numel < 0) return bad("input '" + t.name + "': shape element count overflows");
    if (in.contains("parameters")) {
      ServerStatus st = parse_parameters(in["parameters"], &t.parameters, "input '" + t.name + "' parameters");
      if (!st.ok()) return st;
    }
    auto bds = t.parameters.find("binary_data_size");
    if (t.parameters.count("shared_memory_region")) {
      // The bytes are in a registered region (resolve_shared_memory checks it and the byte size).
      if (in.contains("data") || bds != t.parameters.end())
        return bad("input '" + t.name + "' has both tensor data and shared_memory_region");
    } else if (bds != t.parameters.end()) {
      auto* n = std::get_if<int64_t>(&bds->second);
      if (!n || *n < 0) return bad("input '" + t.name + "': binary_data_size must be a non-negative integer");
      if (in.contains("data")) return bad("input '" + t.name + "' has both 'data' and binary_data_size");
      if (static_cast<uint64_t>(*n) > binary_size - binary_used)
        return bad("input '" + t.name + "': binary_data_size " + std::to_string(*n) + " runs past the end of the body");
      // Exact byte size is checked against the shape before copying.
      if (t.dtype != DType::kString) {
        size_t elem = dtype_size(t.dtype);
        if (static_cast<uint64_t>(numel) > static_cast<uint64_t>(*n) / elem ||
            static_cast<uint64_t>(numel) * elem != static_cast<uint64_t>(*n))
          return bad("input '" + t.name + "': shape " + dims_to_string(t.shape) + " of " + dt + " needs " +
                     std::to_string(static_cast<uint64_t>(numel) * elem) + " bytes, binary_data_size is " +
                     std::to_string(*n));
      }
      if (binary_views) {  // the caller keeps the body alive and rebases the view (one copy fewer)
        t.view = binary + binary_used;
        t.view_size = static_cast<size_t>(*n);
      } else {
        t.data.assign(binary + binary_used, static_cast<size_t>(*n));
      }
      binary_used += static_cast<size_t>(*n);
    } else {
      if (!in.contains("data")) return bad("input '" + t.name + "' has no 'data' and no binary_data_size");
      const json& data = in["data"];
      int64_t leaves = count_leaves(data);
      if (leaves != numel)
        return bad("input '" + t.name + "': shape " + dims_to_string(t.shape) + " needs " + std::to_string(numel) +
                   " elements, 'data' has " + std::to_string(leaves));
      std::vector<const json*> flat;
      flat.reserve(static_cast<size_t>(leaves));
      flatten(data, &flat);
      if (t.dtype == DType::kString) {
        for (const json* v : flat) {
          if (!v->is_string()) return bad("input '" + t.name + "': BYTES data must be strings");
          const auto& s = v->get_ref<const std::string&>();
          uint32_t len = static_cast<uint32_t>(s.size());
          t.data.append(reinterpret_cast<const char*>(&len), 4);
          t.data += s;
        }
      } else {
        size_t elem = dtype_size(t.dtype);
        t.data.resize(static_cast<size_t>(numel) * elem);
        for (size_t i = 0; i < flat.size(); ++i)
          if (!put_element(*flat[i], t.dtype, t.data.data() + i * elem))
            return bad("input '" + t.name + "': element " + std::to_string(i) + " is not a valid " + dt + " value");
      }
    }
    req->inputs.push_back(std::move(t));
  }
  if (binary_used != binary_size)
    return bad("the body has " + std::to_string(binary_size - binary_used) +
               " bytes of binary data that no input's binary_data_size accounts for");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) return bad("'outputs' must be an array");
    for (const auto& out : j["outputs"]) {
      if (!out.is_object() || !out.contains("name") || !out["name"].is_string())
        return bad("each requested output must be an object with a 'name'");
      RequestedOutput o;
      o.name = out["name"].get<std::string>();
      if (out.contains("parameters")) {
        ServerStatus st = parse_parameters(out["parameters"], &o.parameters, "output '" + o.name + "' parameters");
        if (!st.ok()) return st;
        if (o.parameters.count("binary_data")) prefs->binary[o.name] = bool_param(o.parameters, "binary_data");
      }
      req->outputs.push_back(std::move(o));
    }
  }
  return {};
}

void write_infer_response(const InferResponse& r, const OutputPrefs& prefs, std::string* body, int64_t* header_length) {
  std::string& s = *body;
  s.reserve(256);
  s += "{\"model_name\":";
  append_json_string(&s, r.model_name);
  s += ",\"model_version\":";
  append_json_string(&s, r.model_version);
  if (!r.id.empty()) {
    s += ",\"id\":";
    append_json_string(&s, r.id);
  }
  if (!r.parameters.empty()) {
    s += ",\"parameters\":";
    append_parameters(&s, r.parameters);
  }
  s += ",\"outputs\":[";
  bool any_binary = false;
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const InferTensor& t = r.outputs[i];
    if (i) s += ',';
    s += "{\"name\":";
    append_json_string(&s, t.name);
    s += ",\"datatype\":\"";
    s += datatype_name(t.dtype);
    s += "\",\"shape\":[";
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (k) s += ',';
      append_int(&s, t.shape[k]);
    }
    s += ']';
    if (t.parameters.count("shared_memory_region")) {  // written to the client's region: no data here
      s += ",\"parameters\":";
      append_parameters(&s, t.parameters);
      s += '}';
    } else if (prefs.wants_binary(t.name)) {
      any_binary = true;
      s += ",\"parameters\":{\"binary_data_size\":";
      append_int(&s, t.data.size());
      s += "}}";
    } else {
      s += ",\"data\":";
      append_data(&s, t);
      s += '}';
    }
  }
  s += "]}";
  *header_length = -1;
  if (any_binary) {
    *header_length = static_cast<int64_t>(s.size());
    for (const auto& t : r.outputs)
      if (prefs.wants_binary(t.name) && !t.parameters.count("shared_memory_region")) s += t.data;
  }
}

}  // namespace kiln::server
