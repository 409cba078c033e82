// The "cuda" Backend: which nodes run on the GPU (kernels and host shape arithmetic), tactic timing at build time,
// engine compatibility checks, the engine's GPU weights and the CUDA context.
#pragma once
#include <memory>

#include "runtime/backend.h"

namespace kiln::cuda {

std::unique_ptr<kiln::Backend> make_cuda_backend();

}  // namespace kiln::cuda
