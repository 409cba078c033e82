// The CPU backend's entry points: the Backend registered as "cpu" and its per-context executor.
#pragma once
#include <memory>

#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/context_backend.h"

namespace kiln::cpu {

// The "cpu" backend (device "cpu"): supports(node) is cpu_kernels().select(...) != nullptr, the refusal's reason
// kept; make_context returns make_cpu_context(engine).
std::unique_ptr<kiln::Backend> make_cpu_backend();

// Runs an engine whose plan names "cpu" (and "reference" for nodes the CPU kernels refuse) on the host.
std::unique_ptr<kiln::ContextBackend> make_cpu_context(const kiln::Engine& engine);

}  // namespace kiln::cpu
