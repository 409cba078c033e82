// kiln perf's request inputs: shape resolution (--shape, -b), random/zero data and Triton's input-data JSON.
#include "perf/input_data.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/float_formats.h"

namespace kiln::perf {
namespace {

using json = nlohmann::json;

struct TypeInfo {
  const char* name;
  DType dtype;
  size_t size;  // 0 for BYTES
};
constexpr TypeInfo kTypes[] = {
    {"BOOL", DType::kBool, 1},     {"UINT8", DType::kUInt8, 1},   {"UINT16", DType::kUInt16, 2},
    {"UINT32", DType::kUInt32, 4}, {"UINT64", DType::kUInt64, 8}, {"INT8", DType::kInt8, 1},
    {"INT16", DType::kInt16, 2},   {"INT32", DType::kInt32, 4},   {"INT64", DType::kInt64, 8},
    {"FP16", DType::kFloat16, 2},  {"BF16", DType::kBFloat16, 2}, {"FP32", DType::kFloat32, 4},
    {"FP64", DType::kFloat64, 8},  {"BYTES", DType::kString, 0},
};

const TypeInfo* find_type(const std::string& name) {
  for (const TypeInfo& t : kTypes)
    if (name == t.name) return &t;
  return nullptr;
}

template <typename T>
void put(std::string* out, size_t i, T v) {
  std::memcpy(out->data() + i * sizeof(T), &v, sizeof(T));
}
template <typename T>
T get(const std::string& in, size_t i) {
  T v;
  std::memcpy(&v, in.data() + i * sizeof(T), sizeof(T));
  return v;
}

// Stores element i of `out` from a double (numeric types).
void store(DType dtype, double v, size_t i, std::string* out) {
  switch (dtype) {
    case DType::kBool:
      put<uint8_t>(out, i, v != 0);
      break;
    case DType::kUInt8:
      put<uint8_t>(out, i, static_cast<uint8_t>(v));
      break;
    case DType::kUInt16:
      put<uint16_t>(out, i, static_cast<uint16_t>(v));
      break;
    case DType::kUInt32:
      put<uint32_t>(out, i, static_cast<uint32_t>(v));
      break;
    case DType::kUInt64:
      put<uint64_t>(out, i, static_cast<uint64_t>(v));
      break;
    case DType::kInt8:
      put<int8_t>(out, i, static_cast<int8_t>(v));
      break;
    case DType::kInt16:
      put<int16_t>(out, i, static_cast<int16_t>(v));
      break;
    case DType::kInt32:
      put<int32_t>(out, i, static_cast<int32_t>(v));
      break;
    case DType::kInt64:
      put<int64_t>(out, i, static_cast<int64_t>(v));
      break;
    case DType::kFloat16:
      put<uint16_t>(out, i, float_to_half(static_cast<float>(v)));
      break;
    case DType::kBFloat16:
      put<uint16_t>(out, i, float_to_bf16(static_cast<float>(v)));
      break;
    case DType::kFloat32:
      put<float>(out, i, static_cast<float>(v));
      break;
    case DType::kFloat64:
      put<double>(out, i, v);
      break;
    default:
      break;
  }
}

void append_string_element(const std::string& s, std::string* out) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  const char le[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                      static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  out->append(le, 4);
  out->append(s);
}

// Flattens nested JSON arrays into `out` in row-major order.
void flatten(const json& j, std::vector<const json*>* out) {
  if (j.is_array()) {
    for (const json& e : j) flatten(e, out);
  } else {
    out->push_back(&j);
  }
}

// Fills one batch item of tensor `t` from a JSON value: a (nested) array, {"content": [...], "shape": [...]}
// or {"b64": "..."} (raw bytes, base64).
Status item_from_json(const json& value, const TypeInfo& type, InputTensor* t, int64_t item_numel, std::string* item) {
  const json* content = &value;
  if (value.is_object()) {
    if (value.contains("b64")) {
      static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      if (!value["b64"].is_string()) return invalid_argument("input '" + t->name + "': \"b64\" must be a string");
      uint32_t acc = 0;
      int bits = 0;
      for (char c : value["b64"].get<std::string>()) {
        if (c == '=') break;
        const size_t p = kAlphabet.find(c);
        if (p == std::string::npos) return invalid_argument("input '" + t->name + "': invalid base64");
        acc = (acc << 6) | static_cast<uint32_t>(p);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          item->push_back(static_cast<char>((acc >> bits) & 0xff));
        }
      }
      if (type.size && item->size() != static_cast<size_t>(item_numel) * type.size)
        return invalid_argument("input '" + t->name + "': \"b64\" holds " + std::to_string(item->size()) +
                                " bytes, the shape needs " + std::to_string(item_numel * type.size));
      return ok_status();
    }
    if (!value.contains("content")) return invalid_argument("input '" + t->name + "': expected \"content\" or \"b64\"");
    content = &value["content"];
  }
  std::vector<const json*> elems;
  flatten(*content, &elems);
  if (static_cast<int64_t>(elems.size()) != item_numel)
    return invalid_argument("input '" + t->name + "': the data has " + std::to_string(elems.size()) +
                            " elements, the shape needs " + std::to_string(item_numel));
  if (type.dtype == DType::kString) {
    for (const json* e : elems) append_string_element(e->is_string() ? e->get<std::string>() : e->dump(), item);
    return ok_status();
  }
  item->resize(elems.size() * type.size);
  for (size_t i = 0; i < elems.size(); ++i) {
    const json& e = *elems[i];
    if (!e.is_number() && !e.is_boolean())
      return invalid_argument("input '" + t->name + "': element " + std::to_string(i) + " is not a number");
    store(type.dtype, e.is_boolean() ? (e.get<bool>() ? 1.0 : 0.0) : e.get<double>(), i, item);
  }
  return ok_status();
}

}  // namespace

Result<std::vector<RequestInputs>> make_request_inputs(const ModelInfo& model, const PerfOptions& options) {
  const bool batching = model.max_batch_size > 0;
  if (options.batch_size < 1) return invalid_argument("-b must be at least 1");
  if (!batching && options.batch_size != 1)
    return invalid_argument("model '" + model.name + "' does not support batching (max_batch_size 0): use -b 1");
  if (batching && options.batch_size > model.max_batch_size)
    return invalid_argument("-b " + std::to_string(options.batch_size) + " is over model '" + model.name +
                            "' max_batch_size " + std::to_string(model.max_batch_size));
  for (const auto& [name, dims] : options.shapes) {
    bool found = false;
    for (const TensorInfo& in : model.inputs) found = found || in.name == name;
    if (!found) {
      std::string names;
      for (const TensorInfo& in : model.inputs) names += (names.empty() ? "'" : ", '") + in.name + "'";
      return invalid_argument("--shape names '" + name + "', which is not an input of model '" + model.name +
                              "' (inputs: " + names + ")");
    }
  }

  // Per input: the shape of one batch item and its type.
  struct Plan {
    const TypeInfo* type;
    Dims item;
  };
  std::vector<Plan> plans;
  for (const TensorInfo& in : model.inputs) {
    const TypeInfo* type = find_type(in.datatype);
    if (!type) return unimplemented("input '" + in.name + "': datatype '" + in.datatype + "' is not supported");
    Dims base = in.shape;
    if (batching) {
      if (base.empty()) return invalid_argument("input '" + in.name + "': a batching model's input has no batch dim");
      base.erase(base.begin());
    }
    auto it = options.shapes.find(in.name);
    if (it != options.shapes.end()) {
      const Dims& user = it->second;
      if (user.size() != base.size())
        return invalid_argument("--shape " + in.name + ": rank " + std::to_string(user.size()) + ", the model has [" +
                                dims_to_string(base) + "] (without the batch dimension)");
      for (size_t d = 0; d < base.size(); ++d)
        if (base[d] >= 0 && base[d] != user[d])
          return invalid_argument("--shape " + in.name + ": dimension " + std::to_string(d) + " is fixed at " +
                                  std::to_string(base[d]));
      base = user;
    }
    for (int64_t d : base)
      if (d < 0)
        return invalid_argument("input '" + in.name + "' has a dynamic dimension [" + dims_to_string(base) +
                                "]: give it with --shape " + in.name + ":d0,d1,...");
    plans.push_back({type, base});
  }

  // Item data per request set.
  std::vector<std::vector<std::string>> items;  // [set][input]
  if (options.input_data == "random" || options.input_data == "zero") {
    std::mt19937_64 rng(12345);
    std::vector<std::string> set;
    for (const Plan& p : plans) {
      const int64_t numel = dims_numel(p.item);
      if (numel < 0 || (p.type->size &&
                        static_cast<uint64_t>(numel) * p.type->size * options.batch_size > options.max_message_bytes))
        return resource_exhausted("input '" + model.inputs[set.size()].name + "' of shape [" + dims_to_string(p.item) +
                                  "] is larger than the message limit");
      std::string item;
      const bool zero = options.input_data == "zero";
      if (p.type->dtype == DType::kString) {
        for (int64_t i = 0; i < numel; ++i) append_string_element(zero ? "0" : std::to_string(rng() % 1000), &item);
      } else {
        item.resize(static_cast<size_t>(numel) * p.type->size);
        if (!zero) {
          std::uniform_real_distribution<double> unit(0.0, 1.0);
          const bool is_int = p.type->dtype != DType::kFloat16 && p.type->dtype != DType::kBFloat16 &&
                              p.type->dtype != DType::kFloat32 && p.type->dtype != DType::kFloat64;
          for (int64_t i = 0; i < numel; ++i) {
            // Integers stay small (0..99, 0/1 for BOOL) so that index-like inputs remain plausible.
            const double v = p.type->dtype == DType::kBool ? static_cast<double>(rng() & 1)
                             : is_int                      ? static_cast<double>(rng() % 100)
                                                           : unit(rng);
            store(p.type->dtype, v, static_cast<size_t>(i), &item);
          }
        }
      }
      set.push_back(std::move(item));
    }
    items.push_back(std::move(set));
  } else {
    std::ifstream f(options.input_data);
    if (!f) return not_found("--input-data: cannot read '" + options.input_data + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    json doc = json::parse(ss.str(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("data") || !doc["data"].is_array() ||
        doc["data"].empty())
      return invalid_argument("--input-data " + options.input_data +
                              ": expected {\"data\": [{\"INPUT\": [...], ...}, ...]} (Triton's input data format)");
    for (const json& entry : doc["data"]) {
      if (!entry.is_object()) return invalid_argument("--input-data: each \"data\" entry must be an object");
      std::vector<std::string> set;
      for (size_t k = 0; k < plans.size(); ++k) {
        const TensorInfo& in = model.inputs[k];
        if (!entry.contains(in.name))
          return invalid_argument("--input-data: an entry has no data for input '" + in.name + "'");
        InputTensor probe{in.name, in.datatype, plans[k].type->dtype, {}, {}};
        const json& value = entry[in.name];
        Dims item_shape = plans[k].item;
        if (value.is_object() && value.contains("shape")) {
          item_shape.clear();
          for (const json& d : value["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0)
              return invalid_argument("--input-data: input '" + in.name + "' has an invalid \"shape\"");
            item_shape.push_back(d.get<int64_t>());
          }
          plans[k].item = item_shape;  // the file's shape wins over metadata / --shape
        }
        std::string item;
        KILN_RETURN_IF_ERROR(item_from_json(value, *plans[k].type, &probe, dims_numel(item_shape), &item));
        set.push_back(std::move(item));
      }
      items.push_back(std::move(set));
    }
  }

  // Replicate each item over the batch.
  std::vector<RequestInputs> out;
  for (const auto& set : items) {
    RequestInputs req;
    for (size_t k = 0; k < plans.size(); ++k) {
      InputTensor t;
      t.name = model.inputs[k].name;
      t.datatype = model.inputs[k].datatype;
      t.dtype = plans[k].type->dtype;
      if (batching) t.shape.push_back(options.batch_size);
      t.shape.insert(t.shape.end(), plans[k].item.begin(), plans[k].item.end());
      if (set[k].size() * static_cast<size_t>(options.batch_size) > options.max_message_bytes)
        return resource_exhausted("input '" + t.name + "' is larger than the message limit");
      t.bytes.reserve(set[k].size() * static_cast<size_t>(options.batch_size));
      for (int64_t b = 0; b < options.batch_size; ++b) t.bytes += set[k];
      req.push_back(std::move(t));
    }
    out.push_back(std::move(req));
  }
  return out;
}

void append_json_values(const InputTensor& t, std::string* out) {
  const TypeInfo* type = find_type(t.datatype);
  if (!type) return;
  if (type->dtype == DType::kString) {
    size_t pos = 0;
    bool first = true;
    while (pos + 4 <= t.bytes.size()) {
      uint32_t n = 0;
      std::memcpy(&n, t.bytes.data() + pos, 4);
      pos += 4;
      if (!first) out->push_back(',');
      first = false;
      *out += json(t.bytes.substr(pos, n)).dump();
      pos += n;
    }
    return;
  }
  const size_t count = t.bytes.size() / type->size;
  char buf[64];
  for (size_t i = 0; i < count; ++i) {
    if (i) out->push_back(',');
    switch (type->dtype) {
      case DType::kBool:
        *out += get<uint8_t>(t.bytes, i) ? "true" : "false";
        continue;
      case DType::kUInt8:
        snprintf(buf, sizeof buf, "%u", get<uint8_t>(t.bytes, i));
        break;
      case DType::kUInt16:
        snprintf(buf, sizeof buf, "%u", get<uint16_t>(t.bytes, i));
        break;
      case DType::kUInt32:
        snprintf(buf, sizeof buf, "%u", get<uint32_t>(t.bytes, i));
        break;
      case DType::kUInt64:
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)get<uint64_t>(t.bytes, i));
        break;
      case DType::kInt8:
        snprintf(buf, sizeof buf, "%d", get<int8_t>(t.bytes, i));
        break;
      case DType::kInt16:
        snprintf(buf, sizeof buf, "%d", get<int16_t>(t.bytes, i));
        break;
      case DType::kInt32:
        snprintf(buf, sizeof buf, "%d", get<int32_t>(t.bytes, i));
        break;
      case DType::kInt64:
        snprintf(buf, sizeof buf, "%lld", (long long)get<int64_t>(t.bytes, i));
        break;
      case DType::kFloat16:
        snprintf(buf, sizeof buf, "%.9g", half_to_float(get<uint16_t>(t.bytes, i)));
        break;
      case DType::kBFloat16:
        snprintf(buf, sizeof buf, "%.9g", bf16_to_float(get<uint16_t>(t.bytes, i)));
        break;
      case DType::kFloat32:
        snprintf(buf, sizeof buf, "%.9g", get<float>(t.bytes, i));
        break;
      case DType::kFloat64:
        snprintf(buf, sizeof buf, "%.17g", get<double>(t.bytes, i));
        break;
      default:
        buf[0] = '0', buf[1] = 0;
        break;
    }
    *out += buf;
  }
}

}  // namespace kiln::perf
