// Helpers shared by the math family's kernel tests: run one reference kernel, build and read tensors.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
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
kiln::Result<std::vector<Tensor>> run_op(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs = {}, int opset = 25,
                                         size_t num_outputs = 1) {
  return kiln::run_reference_kernel(op, inputs, std::move(attrs), num_outputs, opset);
}

Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v); }
Tensor f64(Dims dims, std::vector<double> v) {
  return Tensor::from_vector<double>(DType::kFloat64, std::move(dims), v);
}
Tensor i64(Dims dims, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v);
}
Tensor i32(Dims dims, std::vector<int32_t> v) {
  return Tensor::from_vector<int32_t>(DType::kInt32, std::move(dims), v);
}
Tensor scalar_i64(int64_t v) { return Tensor::scalar<int64_t>(DType::kInt64, v); }

std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}

void expect_near_all(const Tensor& t, const std::vector<double>& expect, double tol = 1e-5) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expect.size()));
  for (size_t i = 0; i < expect.size(); ++i) {
    if (std::isinf(expect[i]))
      EXPECT_EQ(t.as_double(i), expect[i]) << "element " << i;
    else
      EXPECT_NEAR(t.as_double(i), expect[i], tol) << "element " << i;
  }
}

}  // namespace
