// ExecutionContext: input validation, and the reference (CPU) backend that runs engines on the host.
#include <chrono>
#include <cmath>
#include <map>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "runtime/context_backend.h"
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

namespace {

// Runs the engine graph on the host with the reference kernels.
class ReferenceContext : public ContextBackend {
 public:
  explicit ReferenceContext(const Engine& engine) : engine_(engine) {}
  Status bind_inputs(const NamedValues& inputs) override {
    inputs_ = inputs;
    return ok_status();
  }
  Status execute() override {
    auto t0 = std::chrono::steady_clock::now();
    Scope scope;
    for (const auto& [name, v] : inputs_) scope.set(name, v);
    ExecOptions eo;
    std::vector<LayerTiming> layers;
    auto last = std::chrono::steady_clock::now();
    if (profiling_) {
      eo.on_node_done = [&](const Node& n, const std::vector<Value>&) {
        auto now = std::chrono::steady_clock::now();
        layers.push_back({n.name, op_name(n.op), "cpu", "reference",
                          std::chrono::duration<double, std::milli>(now - last).count()});
        last = now;
      };
    }
    auto r = execute_graph(engine_.graph(), reference_kernels(), scope, eo);
    if (!r.ok()) return r.status();
    outputs_ = std::move(*r);
    layers_ = std::move(layers);
    timings_.compute_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return ok_status();
  }
  Status fetch_outputs(std::vector<Value>* outputs) override {
    *outputs = outputs_;
    return ok_status();
  }
  void set_profiling(bool enabled) override { profiling_ = enabled; }
  std::vector<LayerTiming> layer_timings() const override { return layers_; }
  RunTimings last_timings() const override { return timings_; }

 private:
  const Engine& engine_;
  NamedValues inputs_;
  std::vector<Value> outputs_;
  bool profiling_ = false;
  std::vector<LayerTiming> layers_;
  RunTimings timings_;
};

}  // namespace

std::unique_ptr<ContextBackend> make_reference_context(const Engine& engine) {
  return std::make_unique<ReferenceContext>(engine);
}

#ifndef KILN_HAVE_CUDA
std::unique_ptr<ContextBackend> make_cuda_context(const Engine& engine) { return nullptr; }
#endif

ExecutionContext::ExecutionContext(const Engine& engine) : engine_(engine) {
  backend_ = engine.info().backend == "cuda" ? make_cuda_context(engine) : make_reference_context(engine);
}
ExecutionContext::~ExecutionContext() = default;

Status ExecutionContext::bind_inputs(const NamedValues& inputs, const RunOptions& options) {
  KILN_RETURN_IF_ERROR(validate_inputs(inputs, options));
  if (!backend_) return unimplemented("this Kiln was built without CUDA and cannot run a CUDA engine");
  return backend_->bind_inputs(inputs);
}

Status ExecutionContext::execute() {
  if (!backend_) return unimplemented("this Kiln was built without CUDA and cannot run a CUDA engine");
  return backend_->execute();
}

Status ExecutionContext::execute_back_to_back(int n) {
  if (!backend_) return unimplemented("this Kiln was built without CUDA and cannot run a CUDA engine");
  if (n < 1) return invalid_argument("execute_back_to_back: n must be >= 1, got " + std::to_string(n));
  return backend_->execute_back_to_back(n);
}

Status ExecutionContext::fetch_outputs(NamedValues* outputs) {
  if (!backend_) return unimplemented("this Kiln was built without CUDA and cannot run a CUDA engine");
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
std::vector<LayerTiming> ExecutionContext::layer_timings() const {
  return backend_ ? backend_->layer_timings() : std::vector<LayerTiming>{};
}
RunTimings ExecutionContext::last_timings() const { return backend_ ? backend_->last_timings() : RunTimings{}; }
ContextMemory ExecutionContext::memory() const { return backend_ ? backend_->memory() : ContextMemory{}; }

}  // namespace kiln
