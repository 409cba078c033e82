// Helpers for the nn family's kernel tests: run one reference kernel on hand-built tensors.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace nn_test {

using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;

struct Run {
  kiln::Status status;
  std::vector<kiln::Value> outputs;
  const Tensor& out(size_t i = 0) const { return outputs[i].tensor; }
};

// Runs the registered kernel of `op`; an undefined Tensor in `inputs` is an omitted optional input.
inline Run run(OpKind op, const std::vector<Tensor>& inputs, kiln::Attrs attrs = {}, size_t num_outputs = 1, int opset = 25) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  std::vector<kiln::Value> vals;
  vals.reserve(inputs.size());
  for (const Tensor& t : inputs) vals.push_back(kiln::Value::of(t));
  std::vector<const kiln::Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    ptrs.push_back(inputs[i].defined() ? &vals[i] : nullptr);
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  kiln::KernelContext ctx(node, ptrs, nullptr);
  Run r;
  kiln::KernelFn fn = kiln::reference_kernels().find(op);
  if (!fn) {
    r.status = kiln::unimplemented("no kernel");
    return r;
  }
  r.status = fn(ctx);
  r.outputs = ctx.outputs();
  return r;
}

inline Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v); }
inline Tensor i64(Dims dims, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v); }
inline Tensor iota(Dims dims, float start = 0.f) {
  Tensor t(DType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}
inline void expect_near(const Tensor& t, const Dims& dims, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(t.dims(), dims);
  auto got = values(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace nn_test
