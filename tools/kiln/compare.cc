// Tolerance-based comparison of tensors, sequences and optionals.
#include "tools/kiln/compare.h"

#include <cmath>

namespace kiln::cli {

Tolerance tolerance_for(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat64: return {1e-3, 1e-5};
    case DType::kFloat16: return {1e-2, 1e-3};
    case DType::kBFloat16: return {2e-2, 1e-2};
    default: return {0, 0};
  }
}

namespace {

std::string compare_tensors(const Tensor& e, const Tensor& g, bool shape_and_type_only) {
  if (e.dtype() != g.dtype())
    return std::string("dtype: expected ") + dtype_name(e.dtype()) + ", got " + dtype_name(g.dtype());
  if (e.dims() != g.dims()) return "shape: expected " + dims_to_string(e.dims()) + ", got " + dims_to_string(g.dims());
  if (shape_and_type_only) return "";
  if (e.dtype() == DType::kString) {
    for (int64_t i = 0; i < e.numel(); ++i)
      if (e.strings()[i] != g.strings()[i])
        return "element " + std::to_string(i) + ": expected \"" + e.strings()[i] + "\", got \"" + g.strings()[i] + "\"";
    return "";
  }
  if (!is_float(e.dtype())) {
    for (int64_t i = 0; i < e.numel(); ++i)
      if (e.as_int64(i) != g.as_int64(i) || (e.dtype() == DType::kUInt64 && e.data<uint64_t>()[i] != g.data<uint64_t>()[i]))
        return "element " + std::to_string(i) + ": expected " + std::to_string(e.as_int64(i)) + ", got " +
               std::to_string(g.as_int64(i));
    return "";
  }
  Tolerance tol = tolerance_for(e.dtype());
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (int64_t i = 0; i < e.numel(); ++i) {
    double x = e.as_double(i), y = g.as_double(i);
    bool ok;
    if (std::isnan(x) || std::isnan(y)) ok = std::isnan(x) && std::isnan(y);
    else if (std::isinf(x) || std::isinf(y)) ok = x == y;
    else ok = std::fabs(x - y) <= tol.atol + tol.rtol * std::fabs(x);
    if (!ok) {
      if (first < 0) first = i;
      ++bad;
      if (std::isfinite(x) && std::isfinite(y)) worst = std::max(worst, std::fabs(x - y));
    }
  }
  if (!bad) return "";
  return std::to_string(bad) + "/" + std::to_string(e.numel()) + " elements differ; first at " + std::to_string(first) +
         ": expected " + std::to_string(e.as_double(first)) + ", got " + std::to_string(g.as_double(first)) +
         " (max abs diff " + std::to_string(worst) + ")";
}

}  // namespace

std::string compare_values(const Value& e, const Value& g, bool shape_and_type_only) {
  if (e.kind != g.kind) return "value kind differs (tensor/sequence/optional)";
  if (e.kind == ValueKind::kTensor) return compare_tensors(e.tensor, g.tensor, shape_and_type_only);
  if (e.kind == ValueKind::kOptional) {
    if (e.has_value != g.has_value) return e.has_value ? "expected a value, got an empty optional" : "expected an empty optional";
    if (!e.has_value) return "";
    if (e.optional_of == ValueKind::kTensor) return compare_tensors(e.tensor, g.tensor, shape_and_type_only);
  }
  if (e.sequence.size() != g.sequence.size())
    return "sequence length: expected " + std::to_string(e.sequence.size()) + ", got " + std::to_string(g.sequence.size());
  for (size_t i = 0; i < e.sequence.size(); ++i) {
    std::string r = compare_tensors(e.sequence[i], g.sequence[i], shape_and_type_only);
    if (!r.empty()) return "sequence item " + std::to_string(i) + ": " + r;
  }
  return "";
}

}  // namespace kiln::cli
