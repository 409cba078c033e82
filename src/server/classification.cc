// Classification extension: top-k of an output per batch item as BYTES "<value>:<index>[:<label>]" strings.
#include "server/classification.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "core/float_formats.h"
#include "server/scheduler.h"
#include "server/tensor_codec.h"

namespace kiln::server {

namespace {

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

// Indices of the k' highest of v[0, n) in descending order (ties: lower index first; NaN last).
template <typename T>
void top_indices(const T* v, int64_t n, int64_t k, std::vector<int64_t>* idx) {
  idx->resize(static_cast<size_t>(n));
  std::iota(idx->begin(), idx->end(), int64_t{0});
  auto before = [v](int64_t a, int64_t b) {
    const bool an = is_nan(v[a]), bn = is_nan(v[b]);
    if (an || bn) return an != bn ? bn : a < b;
    if (v[a] != v[b]) return v[a] > v[b];
    return a < b;
  };
  const int64_t kk = std::min(k, n);
  std::partial_sort(idx->begin(), idx->begin() + kk, idx->end(), before);
  idx->resize(static_cast<size_t>(kk));
}

// Classifies `items` consecutive items of `per_item` elements from `v`, writing items * k' strings to `out`.
template <typename T>
void classify_items(const T* v, int64_t items, int64_t per_item, int64_t k, const std::vector<std::string>* labels,
                    std::string* out) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < items; ++i) {
    const T* item = v + i * per_item;
    top_indices(item, per_item, k, &idx);
    for (int64_t c : idx) {
      std::string s = std::to_string(item[c]) + ":" + std::to_string(c);
      if (labels && static_cast<size_t>(c) < labels->size()) s += ":" + (*labels)[static_cast<size_t>(c)];
      *out++ = std::move(s);
    }
  }
}

// Narrow float types are classified as float (their values print as the float they convert to).
std::vector<float> widen(const Tensor& t, int64_t first, int64_t count) {
  std::vector<float> f(static_cast<size_t>(count));
  const uint16_t* p = t.data<uint16_t>() + first;
  for (int64_t i = 0; i < count; ++i)
    f[static_cast<size_t>(i)] = t.dtype() == DType::kFloat16 ? half_to_float(p[i]) : bf16_to_float(p[i]);
  return f;
}

}  // namespace

ServerStatus classification_count(const RequestedOutput& output, int64_t* k) {
  *k = 0;
  auto it = output.parameters.find("classification");
  if (it == output.parameters.end()) return {};
  int64_t v = 0;
  bool ok = false;
  if (const int64_t* i = std::get_if<int64_t>(&it->second)) {
    v = *i;
    ok = true;
  } else if (const double* d = std::get_if<double>(&it->second)) {
    ok = std::isfinite(*d) && *d == std::floor(*d) && *d >= 1 && *d <= 9.0e18;
    if (ok) v = static_cast<int64_t>(*d);
  }
  if (!ok || v < 1)
    return server_error(ServerCode::kInvalidArgument,
                        "output '" + output.name + "': parameter classification must be an integer > 0");
  *k = v;
  return {};
}

bool classifiable(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
      return true;
    default:
      return false;
  }
}

Status SchedulerConfig::load_labels(const std::string& model_dir) {
  for (OutputSpec& spec : outputs) {
    spec.labels.reset();
    const std::string& file = spec.label_filename;
    if (file.empty()) continue;
    const std::string where = model_dir + "/config.pbtxt: output '" + spec.name + "' label_filename '" + file + "'";
    if (file[0] == '/') return invalid_argument(where + ": must be relative to the model directory");
    std::stringstream parts(file);
    for (std::string part; std::getline(parts, part, '/');)
      if (part == "..") return invalid_argument(where + ": must stay inside the model directory");
    std::ifstream in(model_dir + "/" + file, std::ios::binary);
    if (!in) return invalid_argument(where + ": cannot be read");
    auto labels = std::make_shared<std::vector<std::string>>();
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      labels->push_back(std::move(line));
    }
    if (in.bad()) return invalid_argument(where + ": read error");
    spec.labels = std::move(labels);
  }
  return ok_status();
}

ServerStatus classify(const Tensor& t, int64_t begin, int64_t rows, int64_t k, const std::vector<std::string>* labels,
                      InferTensor* out, const RequestedOutput* target) {
  if (!classifiable(t.dtype()))
    return server_error(ServerCode::kInvalidArgument, "output '" + out->name + "': classification needs a numeric " +
                                                          "output, this one is " + datatype_name(t.dtype()));
  int64_t items = 1, per_item = t.numel(), first = 0;
  if (begin >= 0) {
    per_item = 1;
    for (size_t i = 1; i < t.rank(); ++i) per_item *= t.dim(i);
    items = rows;
    first = begin * per_item;
  }
  const int64_t kk = std::min(k, per_item);
  Dims dims = begin >= 0 ? Dims{items, kk} : Dims{kk};
  auto strings = Tensor::allocate(DType::kString, dims);
  if (!strings.ok()) return ServerStatus::from(strings.status());
  Tensor s = std::move(strings).value();
  std::string* o = s.strings();
  const int64_t count = items * per_item;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    classify_items(t.data<T>() + first, items, per_item, k, labels, o);
  };
  switch (t.dtype()) {
    case DType::kFloat32:
      run(float{});
      break;
    case DType::kFloat64:
      run(double{});
      break;
    case DType::kUInt8:
      run(uint8_t{});
      break;
    case DType::kUInt16:
      run(uint16_t{});
      break;
    case DType::kUInt32:
      run(uint32_t{});
      break;
    case DType::kUInt64:
      run(uint64_t{});
      break;
    case DType::kInt8:
      run(int8_t{});
      break;
    case DType::kInt16:
      run(int16_t{});
      break;
    case DType::kInt32:
      run(int32_t{});
      break;
    case DType::kInt64:
      run(int64_t{});
      break;
    default: {  // FP16 / BF16
      std::vector<float> f = widen(t, first, count);
      classify_items(f.data(), items, per_item, k, labels, o);
      break;
    }
  }
  InferTensor bytes;
  bytes.name = out->name;
  ServerStatus st = slice_rows(s, -1, 0, &bytes, target);
  if (!st.ok()) return st;
  bytes.shape = std::move(dims);
  *out = std::move(bytes);
  return {};
}

}  // namespace kiln::server
