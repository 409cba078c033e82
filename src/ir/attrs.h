// Attributes of a node: a typed map filled once by the importer. Kernels read them through typed getters.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

struct Graph;
using GraphPtr = std::shared_ptr<Graph>;

using AttrValue = std::variant<int64_t, float, std::string, Tensor, GraphPtr, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, std::vector<Tensor>, std::vector<GraphPtr>>;

// Index of each alternative, stable because engine files store it.
enum class AttrType : uint8_t { kInt, kFloat, kString, kTensor, kGraph, kInts, kFloats, kStrings, kTensors, kGraphs };

class Attrs {
 public:
  bool has(const std::string& name) const { return m_.count(name) != 0; }
  // Typed getters return `def` when the attribute is absent or has another type (the importer
  // validates types, so a mismatch there means a model error already reported).
  int64_t get_int(const std::string& name, int64_t def = 0) const;
  float get_float(const std::string& name, float def = 0.f) const;
  std::string get_string(const std::string& name, const std::string& def = "") const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<float> get_floats(const std::string& name, std::vector<float> def = {}) const;
  std::vector<std::string> get_strings(const std::string& name, std::vector<std::string> def = {}) const;
  const Tensor* get_tensor(const std::string& name) const;  // nullptr if absent
  const std::vector<Tensor>* get_tensors(const std::string& name) const;
  GraphPtr get_graph(const std::string& name) const;        // nullptr if absent

  void set(const std::string& name, AttrValue v) { m_[name] = std::move(v); }
  void erase(const std::string& name) { m_.erase(name); }
  const std::map<std::string, AttrValue>& all() const { return m_; }

 private:
  std::map<std::string, AttrValue> m_;
};

}  // namespace kiln
