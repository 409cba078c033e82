// Helpers shared by the attention family's kernel tests: run one reference kernel, build and check tensors.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "tests/ops/kernel_test_util.h"

namespace {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;

// Runs one reference kernel on `inputs` (an undefined Tensor = absent optional input).
kiln::Result<std::vector<Tensor>> run_op(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs = {},
                                         size_t num_outputs = 1, int opset = 24) {
  return kiln::run_reference_kernel(op, inputs, std::move(attrs), num_outputs, opset);
}

Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v); }
Tensor i64(Dims dims, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v);
}

void expect_values(const Tensor& t, const Dims& dims, const std::vector<double>& expect, double tol = 1e-5) {
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expect.size()));
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_NEAR(t.as_double(i), expect[i], tol) << "element " << i;
}

}  // namespace
