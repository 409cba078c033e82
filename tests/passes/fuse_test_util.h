// Helpers for the fusion pass tests on top of pass_test_util.h: scalar constants and a one-call
// "run the pass, check it changed (or not) and outputs still match" check.
#pragma once
#include "tests/passes/pass_test_util.h"

namespace kiln_pass_test {

inline Tensor scalar_f32(float v) { return Tensor::scalar<float>(DType::kFloat32, v); }
// A scalar int8 or uint8 tensor (quantization zero points).
inline Tensor scalar_q8(DType t, int v) {
  Tensor z(t, {});
  if (t == DType::kInt8) z.data<int8_t>()[0] = static_cast<int8_t>(v);
  else z.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  return z;
}

inline Tensor filled(const std::vector<int64_t>& dims, float v) {
  Tensor t(DType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}

// Runs `pass` on a copy of `g`; expects `changes` and equal reference outputs. Returns the rewritten graph.
inline Graph run_and_compare(Pass& pass, const Graph& g, bool changes, double tol = 1e-5) {
  Graph after = g;
  const bool changed = run_pass_checked(pass, after);
  EXPECT_EQ(changed, changes) << print_graph(after);
  expect_same_outputs(g, after, tol);
  return after;
}

}  // namespace kiln_pass_test
