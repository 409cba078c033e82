// The "reference" Backend and its context: runs the engine graph on the host with the reference kernels.
#include "backends/reference/reference_backend.h"

#include <chrono>

#include "ir/graph.h"
#include "runtime/executor.h"

namespace kiln {

namespace {

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

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }
  std::string device() const override { return "cpu"; }
  NodeSupport supports(const Graph& graph, const Node& node) const override {
    if (reference_kernels().find(node.op)) return NodeSupport::yes();
    return NodeSupport::no("no reference kernel for " + std::string(op_name(node.op)));
  }
  // fp16/bf16 are emulated as tensor dtypes (the oracle for narrow precisions).
  bool wants_pass(const std::string& pass) const override { return pass == "precision_lowering"; }
  Status prepare(Graph&, std::vector<NodePlan>& plans, const PlanRequest&) const override {
    for (auto& p : plans)
      if (p.backend == "reference" && p.kernel.empty()) p.kernel = "reference";
    return ok_status();
  }
  std::unique_ptr<ContextBackend> make_context(const Engine& engine) const override {
    return make_reference_context(engine);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

std::unique_ptr<ContextBackend> make_reference_context(const Engine& engine) {
  return std::make_unique<ReferenceContext>(engine);
}

}  // namespace kiln
