// Test helper for the elementwise_unary kernel tests: runs one reference kernel on given inputs.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln::unary_test {

struct OpRun {
  Status status;
  std::vector<Value> outputs;
  const Tensor& out() const { return outputs.at(0).tensor; }
};

// Runs the registered kernel of `op`; an undefined Tensor in `inputs` is an omitted optional input.
inline OpRun run_op(OpKind op, const std::vector<Tensor>& inputs, const Attrs& attrs = {}, int opset = 25) {
  Node n;
  n.op = op;
  n.name = "n";
  n.opset = opset;
  n.attrs = attrs;
  n.outputs = {"y"};
  std::vector<Value> values;
  values.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back(inputs[i].defined() ? "x" + std::to_string(i) : "");
    values.push_back(Value::of(inputs[i]));
  }
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
  KernelContext ctx(n, ptrs, nullptr);
  KernelFn fn = reference_kernels().find(op);
  if (!fn) return {unimplemented("no kernel"), {}};
  Status st = fn(ctx);
  return {st, ctx.outputs()};
}

inline Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, dims, v); }
inline Tensor f64(Dims dims, std::vector<double> v) { return Tensor::from_vector<double>(DType::kFloat64, dims, v); }
inline Tensor i32(Dims dims, std::vector<int32_t> v) { return Tensor::from_vector<int32_t>(DType::kInt32, dims, v); }
inline Tensor i64(Dims dims, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, dims, v); }
inline Tensor u8(DType t, Dims dims, std::vector<uint8_t> v) { return Tensor::from_vector<uint8_t>(t, dims, v); }

inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}

// Element-wise closeness with NaN == NaN.
inline void expect_close(const Tensor& t, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    double got = t.as_double(static_cast<int64_t>(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << "element " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got, want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got, want[i], tol * std::max(1.0, std::fabs(want[i]))) << "element " << i;
    }
  }
}

}  // namespace kiln::unary_test
