// ExecutionContext: input validation and running the engine's graph on the reference backend.
#include <cmath>
#include <map>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "runtime/executor.h"
#include "runtime/profiles.h"

namespace kiln {

namespace {

std::string expected_names(const std::vector<TensorDesc>& descs) {
  std::string s;
  for (const auto& d : descs) s += (s.empty() ? "" : ", ") + d.name;
  return s.empty() ? "(none)" : s;
}

Status check_finite(const std::string& name, const Tensor& t) {
  if (!is_float(t.dtype())) return ok_status();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.as_double(i);
    if (!std::isfinite(v))
      return invalid_argument("input '" + name + "' element " + std::to_string(i) + " is " + (std::isnan(v) ? "NaN" : "Inf") +
                              " (pass --allow-nonfinite to accept non-finite inputs)");
  }
  return ok_status();
}

}  // namespace

Status ExecutionContext::validate_inputs(const NamedValues& inputs, const RunOptions& options) const {
  const auto& descs = engine_.inputs();
  std::map<std::string, const Value*> given;
  for (const auto& [name, v] : inputs) {
    bool known = false;
    for (const auto& d : descs) known |= d.name == name;
    if (!known) return invalid_argument("unknown input '" + name + "' (model inputs: " + expected_names(descs) + ")");
    if (!given.emplace(name, &v).second) return invalid_argument("input '" + name + "' given twice");
  }
  std::map<std::string, int64_t> symbols;  // symbolic dim -> value seen first
  for (const auto& d : descs) {
    auto it = given.find(d.name);
    if (it == given.end()) return invalid_argument("missing input '" + d.name + "' (expected " + d.to_string() + ")");
    const Value& v = *it->second;
    if (d.kind != v.kind)
      return invalid_argument("input '" + d.name + "': expected a " +
                              (d.kind == ValueKind::kTensor ? "tensor" : d.kind == ValueKind::kSequence ? "sequence" : "optional"));
    if (d.kind != ValueKind::kTensor) continue;
    const Tensor& t = v.tensor;
    if (!t.defined()) return invalid_argument("input '" + d.name + "' has no data");
    if (d.dtype != DType::kUndefined && t.dtype() != d.dtype)
      return invalid_argument("input '" + d.name + "': expected dtype " + dtype_name(d.dtype) + ", got " + dtype_name(t.dtype()));
    if (d.rank_known) {
      if (t.rank() != d.dims.size())
        return invalid_argument("input '" + d.name + "': expected rank " + std::to_string(d.dims.size()) + " (" + d.to_string() +
                                "), got rank " + std::to_string(t.rank()) + " [" + dims_to_string(t.dims()) + "]");
      for (size_t i = 0; i < d.dims.size(); ++i) {
        if (d.dims[i] >= 0 && d.dims[i] != t.dim(i))
          return invalid_argument("input '" + d.name + "' dim " + std::to_string(i) + ": expected " + std::to_string(d.dims[i]) +
                                  ", got " + std::to_string(t.dim(i)) + " (shape " + dims_to_string(t.dims()) + ")");
        if (d.dims[i] < 0 && !d.dim_names[i].empty()) {
          auto [s, inserted] = symbols.emplace(d.dim_names[i], t.dim(i));
          if (!inserted && s->second != t.dim(i))
            return invalid_argument("input '" + d.name + "' dim " + std::to_string(i) + " ('" + d.dim_names[i] + "') is " +
                                    std::to_string(t.dim(i)) + " but another input set '" + d.dim_names[i] + "' to " +
                                    std::to_string(s->second));
        }
      }
    }
    KILN_RETURN_IF_ERROR(check_profiles(engine_.profiles(), d.name, t.dims()));
    if (options.check_finite) KILN_RETURN_IF_ERROR(check_finite(d.name, t));
  }
  return ok_status();
}

Status ExecutionContext::run(const NamedValues& inputs, NamedValues* outputs, const RunOptions& options) {
  KILN_RETURN_IF_ERROR(validate_inputs(inputs, options));
  Scope scope;
  for (const auto& [name, v] : inputs) scope.set(name, v);
  KILN_ASSIGN_OR_RETURN(std::vector<Value> outs, execute_graph(engine_.graph(), reference_kernels(), scope));
  outputs->clear();
  for (size_t i = 0; i < outs.size(); ++i) outputs->emplace_back(engine_.outputs()[i].name, std::move(outs[i]));
  return ok_status();
}

}  // namespace kiln
