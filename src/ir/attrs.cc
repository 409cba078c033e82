// Typed attribute getters.
#include "ir/attrs.h"

namespace kiln {

namespace {
template <typename T>
const T* find_as(const std::map<std::string, AttrValue>& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) return nullptr;
  return std::get_if<T>(&it->second);
}
}  // namespace

int64_t Attrs::get_int(const std::string& name, int64_t def) const {
  const int64_t* v = find_as<int64_t>(m_, name);
  return v ? *v : def;
}
float Attrs::get_float(const std::string& name, float def) const {
  const float* v = find_as<float>(m_, name);
  return v ? *v : def;
}
std::string Attrs::get_string(const std::string& name, const std::string& def) const {
  const std::string* v = find_as<std::string>(m_, name);
  return v ? *v : def;
}
std::vector<int64_t> Attrs::get_ints(const std::string& name, std::vector<int64_t> def) const {
  const auto* v = find_as<std::vector<int64_t>>(m_, name);
  return v ? *v : def;
}
std::vector<float> Attrs::get_floats(const std::string& name, std::vector<float> def) const {
  const auto* v = find_as<std::vector<float>>(m_, name);
  return v ? *v : def;
}
std::vector<std::string> Attrs::get_strings(const std::string& name, std::vector<std::string> def) const {
  const auto* v = find_as<std::vector<std::string>>(m_, name);
  return v ? *v : def;
}
const Tensor* Attrs::get_tensor(const std::string& name) const { return find_as<Tensor>(m_, name); }
const std::vector<Tensor>* Attrs::get_tensors(const std::string& name) const {
  return find_as<std::vector<Tensor>>(m_, name);
}
GraphPtr Attrs::get_graph(const std::string& name) const {
  const GraphPtr* v = find_as<GraphPtr>(m_, name);
  return v ? *v : nullptr;
}

}  // namespace kiln
