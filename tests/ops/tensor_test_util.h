// Helpers for the tensor family's kernel tests: run one reference kernel on small tensors.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "tests/ops/kernel_test_util.h"

namespace kiln_tensor_test {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;

// Runs one reference kernel on `inputs` (an undefined Tensor = absent optional input).
inline kiln::Result<std::vector<Tensor>> run_op(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs = {},
                                                size_t num_outputs = 1, int opset = 25) {
  return kiln::run_reference_kernel(op, inputs, std::move(attrs), num_outputs, opset);
}

inline Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v); }
inline Tensor i64(Dims dims, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v); }
inline Tensor i32(Dims dims, std::vector<int32_t> v) { return Tensor::from_vector<int32_t>(DType::kInt32, std::move(dims), v); }
inline Tensor strs(Dims dims, const std::vector<std::string>& v) {
  Tensor t(DType::kString, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}
inline Tensor iota_f32(Dims dims) {
  Tensor t(DType::kFloat32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}
inline Attrs attrs(std::initializer_list<std::pair<std::string, kiln::AttrValue>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

inline void expect_values(const Tensor& t, const Dims& dims, const std::vector<double>& expect) {
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expect.size()));
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_DOUBLE_EQ(t.as_double(i), expect[i]) << "element " << i;
}

// Runs and expects success with one output of the given values.
#define EXPECT_OP(result, dims, ...)                                   \
  do {                                                                 \
    auto _r = (result);                                                \
    ASSERT_TRUE(_r.ok()) << _r.status().message();                     \
    kiln_tensor_test::expect_values((*_r)[0], dims, __VA_ARGS__);      \
  } while (0)
#define EXPECT_FAILS(result)                 \
  do {                                       \
    auto _r = (result);                      \
    EXPECT_FALSE(_r.ok());                   \
  } while (0)

}  // namespace kiln_tensor_test
