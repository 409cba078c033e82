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

Budget budget_for_precision(const std::string& precision) {
  // A quantized output computed by float math in fp16/bf16 (DynamicQuantizeLinear written out) may round one step
  // differently.
  if (precision == "fp16") return {1e-2, 2e-3, 1};
  if (precision == "bf16") return {4e-2, 1.6e-2, 1};
  if (precision == "tf32") return {4e-3, 1e-3, 0};
  if (precision == "best") return {4e-2, 1.6e-2, 1};  // may pick bf16 or fp16
  if (precision == "int8") return {0, 0, 1};
  // FP8 engines: float8 GEMMs and, on a GPU, float16 float layers (fp16's budget); an 8-bit output one step off.
  if (precision == "fp8") return {1e-2, 2e-3, 1};
  return {};
}

namespace {

bool is_8bit_int(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

std::string compare_tensors(const Tensor& e, const Tensor& g, bool shape_and_type_only, const Budget& budget) {
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
    const int64_t steps = is_8bit_int(e.dtype()) ? budget.int8_steps : 0;
    for (int64_t i = 0; i < e.numel(); ++i) {
      const int64_t d = e.as_int64(i) - g.as_int64(i);
      if ((d > steps || d < -steps) ||
          (e.dtype() == DType::kUInt64 && steps == 0 && e.data<uint64_t>()[i] != g.data<uint64_t>()[i]))
        return "element " + std::to_string(i) + ": expected " + std::to_string(e.as_int64(i)) + ", got " +
               std::to_string(g.as_int64(i)) + (steps ? " (budget: " + std::to_string(steps) + " step)" : "");
    }
    return "";
  }
  Tolerance tol = tolerance_for(e.dtype());
  const bool wide = e.dtype() == DType::kFloat32 || e.dtype() == DType::kFloat64;
  if (wide && (budget.rtol > 0 || budget.atol_of_max > 0)) {
    double max_abs = 0;
    for (int64_t i = 0; i < e.numel(); ++i)
      if (std::isfinite(e.as_double(i))) max_abs = std::max(max_abs, std::fabs(e.as_double(i)));
    tol.rtol = std::max(tol.rtol, budget.rtol);
    tol.atol = std::max(tol.atol, budget.atol_of_max * max_abs);
  }
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

std::string compare_values(const Value& e, const Value& g, bool shape_and_type_only, const Budget& budget) {
  if (e.kind != g.kind) return "value kind differs (tensor/sequence/optional)";
  if (e.kind == ValueKind::kTensor) return compare_tensors(e.tensor, g.tensor, shape_and_type_only, budget);
  if (e.kind == ValueKind::kOptional) {
    if (e.has_value != g.has_value) return e.has_value ? "expected a value, got an empty optional" : "expected an empty optional";
    if (!e.has_value) return "";
    if (e.optional_of == ValueKind::kTensor) return compare_tensors(e.tensor, g.tensor, shape_and_type_only, budget);
  }
  if (e.sequence.size() != g.sequence.size())
    return "sequence length: expected " + std::to_string(e.sequence.size()) + ", got " + std::to_string(g.sequence.size());
  for (size_t i = 0; i < e.sequence.size(); ++i) {
    std::string r = compare_tensors(e.sequence[i], g.sequence[i], shape_and_type_only, budget);
    if (!r.empty()) return "sequence item " + std::to_string(i) + ": " + r;
  }
  return "";
}

}  // namespace kiln::cli
