// Helpers for unit tests that build small graphs by hand and compare the CPU backend with the reference backend:
// seeded random float tensors, a node at opset 18, and the CPU kernels' tolerance (1e-4 + 1e-4 * |reference|).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "runtime/backend.h"

namespace kiln::test_util {

inline Tensor random_f32(const Dims& dims, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kFloat32, dims);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(g);
  return t;
}

inline Node make_node(OpKind op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.opset = 18;
  return n;
}

inline void expect_close(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dims(), b.dims()) << what;
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-4 + 1e-4 * std::fabs(b.data<float>()[i])) << what << " @" << i;
}

}  // namespace kiln::test_util
