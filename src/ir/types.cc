// Type and shape printing and helpers.
#include "ir/types.h"

namespace kiln {

std::string Dim::to_string() const {
  if (is_known()) return std::to_string(value);
  return symbol.empty() ? "?" : symbol;
}

Shape Shape::of(const std::vector<int64_t>& d) {
  Shape s;
  s.rank_known = true;
  for (int64_t v : d) s.dims.push_back(Dim::known(v));
  return s;
}

bool Shape::fully_known() const {
  if (!rank_known) return false;
  for (const Dim& d : dims)
    if (!d.is_known()) return false;
  return true;
}

std::vector<int64_t> Shape::concrete() const {
  std::vector<int64_t> out;
  for (const Dim& d : dims) out.push_back(d.value);
  return out;
}

std::string Shape::to_string() const {
  if (!rank_known) return "[*]";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + dims[i].to_string();
  return s + "]";
}

std::string TypeInfo::to_string() const {
  switch (kind) {
    case ValueKind::kTensor: return std::string(dtype_name(dtype)) + shape.to_string();
    case ValueKind::kSequence: return "seq(" + (elem ? elem->to_string() : std::string("?")) + ")";
    case ValueKind::kOptional: return "opt(" + (elem ? elem->to_string() : std::string("?")) + ")";
    case ValueKind::kUnknown: return "?";
  }
  return "?";
}

}  // namespace kiln
