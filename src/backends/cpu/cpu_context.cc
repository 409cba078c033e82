// The CPU ContextBackend: runs an engine's nodes with CPU kernels, falling back to the reference kernels.
#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {

std::unique_ptr<ContextBackend> make_cpu_context(const Engine& engine) { return make_reference_context(engine); }

}  // namespace kiln::cpu
