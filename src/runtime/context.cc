// ExecutionContext: input validation, and the engine's backend context (looked up in the backend registry).
#include <cmath>
#include <map>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/context_backend.h"
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

namespace {

// A ContextBackend whose every call fails with the reason the engine's backend could not be made.
class FailedContext : public ContextBackend {
 public:
  explicit FailedContext(Status why) : why_(std::move(why)) {}
  Status bind_inputs(const NamedValues&) override { return why_; }
  Status execute() override { return why_; }
  Status execute_back_to_back(int) override { return why_; }
  Status fetch_outputs(std::vector<Value>*) override { return why_; }

 private:
  Status why_;
};

std::unique_ptr<ContextBackend> make_context_for(const Engine& engine) {
  const Backend* b = find_backend(engine.info().backend);
  if (!b)
    return std::make_unique<FailedContext>(failed_precondition(
        "engine needs backend '" + engine.info().backend + "', this Kiln has: " + backend_names_string() +
        " (rebuild the engine with this Kiln)"));
  auto ctx = b->make_context(engine);
  if (!ctx)
    return std::make_unique<FailedContext>(internal_error("backend '" + b->name() + "' could not create a context"));
  return ctx;
}

}  // namespace

ExecutionContext::ExecutionContext(const Engine& engine) : engine_(engine), backend_(make_context_for(engine)) {}
ExecutionContext::~ExecutionContext() = default;

Status ExecutionContext::bind_inputs(const NamedValues& inputs, const RunOptions& options) {
  KILN_RETURN_IF_ERROR(validate_inputs(inputs, options));
  return backend_->bind_inputs(inputs);
}

Status ContextBackend::bind_inputs(const NamedValues&, const DeviceInputs& device_inputs) {
  return invalid_argument("input '" + device_inputs.front().first +
                          "' is in CUDA device memory, but this engine does not run on a GPU (device-resident "
                          "inputs need a CUDA engine; pass host memory)");
}

Status ExecutionContext::bind_inputs(const NamedValues& host_inputs, const DeviceInputs& device_inputs,
                                     const RunOptions& options) {
  if (device_inputs.empty()) return bind_inputs(host_inputs, options);
  if (options.check_finite)
    return invalid_argument("input '" + device_inputs.front().first +
                            "' is in CUDA device memory: check_finite reads inputs on the host, pass host memory");
  // Validated like host inputs, through placeholders that carry only the dtype and dims.
  NamedValues all = host_inputs;
  for (const auto& [name, d] : device_inputs) {
    if (d.dtype == DType::kString || d.dtype == DType::kUndefined)
      return invalid_argument("input '" + name + "': " + (d.dtype == DType::kString ? "string" : "undefined") +
                              " tensors cannot be passed in device memory");
    for (int64_t x : d.dims)
      if (x < 0) return invalid_argument("input '" + name + "': negative dim in shape " + dims_to_string(d.dims));
    if (dims_numel(d.dims) < 0)
      return invalid_argument("input '" + name + "': shape " + dims_to_string(d.dims) + " has too many elements");
    const Tensor placeholder = Tensor::wrap(d.dtype, d.dims, const_cast<void*>(d.data), nullptr);
    if (!d.data && placeholder.nbytes() > 0)
      return invalid_argument("input '" + name + "': null device address for " +
                              std::to_string(placeholder.nbytes()) + " bytes");
    all.emplace_back(name, Value::of(placeholder));
  }
  KILN_RETURN_IF_ERROR(validate_inputs(all, options));
  return backend_->bind_inputs(host_inputs, device_inputs);
}

Status ContextBackend::fetch_outputs(std::vector<Value>* outputs, const std::vector<bool>& wanted) {
  KILN_RETURN_IF_ERROR(fetch_outputs(outputs));
  for (size_t i = 0; i < outputs->size() && i < wanted.size(); ++i)
    if (!wanted[i]) (*outputs)[i] = Value{};
  return ok_status();
}

Result<DeviceTensorView> ContextBackend::device_output(size_t) {
  return unimplemented("device-resident outputs need a CUDA engine");
}

Status ExecutionContext::fetch_outputs(NamedValues* outputs, const std::vector<bool>& wanted) {
  if (wanted.size() != engine_.outputs().size())
    return invalid_argument("fetch_outputs: wanted has " + std::to_string(wanted.size()) + " entries, the engine " +
                            std::to_string(engine_.outputs().size()) + " outputs");
  std::vector<Value> outs;
  KILN_RETURN_IF_ERROR(backend_->fetch_outputs(&outs, wanted));
  outputs->clear();
  for (size_t i = 0; i < outs.size() && i < engine_.outputs().size(); ++i)
    outputs->emplace_back(engine_.outputs()[i].name, std::move(outs[i]));
  return ok_status();
}

Result<DeviceTensorView> ExecutionContext::device_output(size_t index) {
  if (index >= engine_.outputs().size())
    return invalid_argument("device_output: index " + std::to_string(index) + " is past the engine's " +
                            std::to_string(engine_.outputs().size()) + " outputs");
  return backend_->device_output(index);
}

Status ExecutionContext::run(const NamedValues& host_inputs, const DeviceInputs& device_inputs, NamedValues* outputs,
                             const RunOptions& options) {
  KILN_RETURN_IF_ERROR(bind_inputs(host_inputs, device_inputs, options));
  KILN_RETURN_IF_ERROR(execute());
  return fetch_outputs(outputs);
}

Status ExecutionContext::execute() {
  return backend_->execute();
}

Status ExecutionContext::execute_back_to_back(int n) {
  if (n < 1) return invalid_argument("execute_back_to_back: n must be >= 1, got " + std::to_string(n));
  return backend_->execute_back_to_back(n);
}

Status ExecutionContext::fetch_outputs(NamedValues* outputs) {
  std::vector<Value> outs;
  KILN_RETURN_IF_ERROR(backend_->fetch_outputs(&outs));
  outputs->clear();
  for (size_t i = 0; i < outs.size() && i < engine_.outputs().size(); ++i)
    outputs->emplace_back(engine_.outputs()[i].name, std::move(outs[i]));
  return ok_status();
}

Status ExecutionContext::run(const NamedValues& inputs, NamedValues* outputs, const RunOptions& options) {
  KILN_RETURN_IF_ERROR(bind_inputs(inputs, options));
  KILN_RETURN_IF_ERROR(execute());
  return fetch_outputs(outputs);
}

void ExecutionContext::set_cuda_graph(bool enabled) {
  if (backend_) backend_->set_cuda_graph(enabled);
}
void ExecutionContext::set_profiling(bool enabled) {
  if (backend_) backend_->set_profiling(enabled);
}
void ExecutionContext::set_num_threads(int n) {
  if (backend_) backend_->set_num_threads(n);
}
std::vector<LayerTiming> ExecutionContext::layer_timings() const {
  return backend_ ? backend_->layer_timings() : std::vector<LayerTiming>{};
}
RunTimings ExecutionContext::last_timings() const { return backend_ ? backend_->last_timings() : RunTimings{}; }
ContextMemory ExecutionContext::memory() const { return backend_ ? backend_->memory() : ContextMemory{}; }

}  // namespace kiln
