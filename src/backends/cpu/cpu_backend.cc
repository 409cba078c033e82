// The "cpu" Backend: declares what the CPU kernels run and creates CPU contexts.
#include "backends/cpu/cpu_backend.h"

#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

namespace {

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string device() const override { return "cpu"; }
  NodeSupport supports(const Graph& graph, const Node& node) const override {
    std::string why;
    if (cpu_kernels().select(graph, node, &why)) return NodeSupport::yes();
    return NodeSupport::no("cpu: " + why);
  }
  std::unique_ptr<ContextBackend> make_context(const Engine& engine) const override { return make_cpu_context(engine); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace kiln::cpu
