// Helpers for GPU tests: run one node on the CUDA backend and on the reference backend and compare.
// Every test starts with KILN_REQUIRE_GPU(): without a GPU it is reported as skipped, not passed.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/tensor.h"

namespace kiln::testing {

bool have_gpu();
#define KILN_REQUIRE_GPU() \
  if (!::kiln::testing::have_gpu()) GTEST_SKIP() << "skipped: no GPU"

struct Tolerance {
  double rtol = 1e-5;
  double atol = 1e-6;
};
// Per-dtype defaults: float32 1e-5/1e-6 (1e-3 with tf32), float16 1e-2/1e-3, bfloat16 2e-2/1e-2, ints exact.
Tolerance default_tolerance(DType dtype);
extern std::string cuda_test_precision;  // BuildOptions::precision of the CUDA build below (default "fp32")

// Uniform random tensor (ints: integers in [lo, hi]; bool: 0/1). Never all zeros.
Tensor random_tensor(DType dtype, const Dims& dims, uint64_t seed, double lo = -1.0, double hi = 1.0);

// Builds a graph holding `node` alone: inputs[i] feeds node.inputs[i] (an undefined Tensor for an omitted
// optional input); inputs whose index is in `constant_inputs` become engine weights, the rest are
// runtime inputs. Runs it on the reference backend and on the CUDA backend (fp32 engine, so the
// given dtypes reach the kernel unchanged) and EXPECTs every output to match within `tol`
// (default_tolerance of each output's dtype when tol is null). Returns the CUDA outputs.
std::vector<Tensor> expect_cuda_matches_reference(const Node& node, const std::vector<Tensor>& inputs,
                                                  const std::vector<size_t>& constant_inputs = {},
                                                  const Tolerance* tol = nullptr);

// Node with generated input/output names "in0".., "out0".. for the given counts.
Node make_test_node(OpKind op, size_t num_inputs, size_t num_outputs, Attrs attrs = {});

}  // namespace kiln::testing
