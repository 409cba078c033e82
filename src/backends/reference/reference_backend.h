// The "reference" backend: the oracle that interprets an engine graph node by node with the reference kernels.
#pragma once
#include <memory>

#include "kiln/engine.h"
#include "runtime/backend.h"
#include "runtime/context_backend.h"

namespace kiln {

// Backend "reference" (device "cpu"): supports every node whose op the reference registry has.
std::unique_ptr<Backend> make_reference_backend();

// A context that interprets the whole engine graph with the reference kernels (also used by other backends'
// contexts for the nodes their plans give to "reference").
std::unique_ptr<ContextBackend> make_reference_context(const Engine& engine);

}  // namespace kiln
