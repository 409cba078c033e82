// Checking a freshly captured CUDA graph against a plain run of the same inputs: a kernel whose captured form
// computes something else (a capture-unsafe library engine) must cost speed, never a wrong answer.
#pragma once
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::cuda {

// False when KILN_CUDA_GRAPH_VERIFY=0 (the check costs one extra plain run per newly captured input shape).
bool replay_check_enabled();

// Diagnosis: when KILN_CUDA_GRAPH_DOT names a folder, writes the freshly captured graph `g` there as DOT
// (cudaGraphDebugDotPrint, verbose: kernel names and parameters, memcpy/memset nodes and their memory kinds) and prints
// one line of node counts by type to stderr. Nothing when the variable is unset.
void dump_captured_graph(cudaGraph_t g, const std::string& signature);

// "" when `replayed` and `plain` agree; else what differs ("output 2 'logits': relative L2 difference 0.17").
// Floating-point outputs agree when ||replayed - plain|| <= 1e-3 * ||plain|| and their NaNs sit in the same places
// (kernels may accumulate in another order between runs); other dtypes must be equal byte for byte.
std::string first_difference(const std::vector<Tensor>& replayed, const std::vector<Tensor>& plain,
                             const std::vector<std::string>& names);

}  // namespace kiln::cuda
