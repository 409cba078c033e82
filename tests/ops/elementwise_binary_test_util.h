// Helpers for the elementwise_binary family's kernel tests: run one reference kernel on small tensors.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "tests/ops/kernel_test_util.h"

namespace kiln_ewb_test {

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

template <typename T>
Tensor make(DType dt, Dims dims, std::vector<T> v) {
  return Tensor::from_vector<T>(dt, std::move(dims), v);
}
inline Tensor f32(Dims dims, std::vector<float> v) { return make<float>(DType::kFloat32, std::move(dims), v); }
inline Tensor i64(Dims dims, std::vector<int64_t> v) { return make<int64_t>(DType::kInt64, std::move(dims), v); }
inline Tensor i32(Dims dims, std::vector<int32_t> v) { return make<int32_t>(DType::kInt32, std::move(dims), v); }
inline Tensor i8(Dims dims, std::vector<int8_t> v) { return make<int8_t>(DType::kInt8, std::move(dims), v); }
inline Tensor u8(Dims dims, std::vector<uint8_t> v) { return make<uint8_t>(DType::kUInt8, std::move(dims), v); }
inline Tensor boolean(Dims dims, std::vector<uint8_t> v) { return make<uint8_t>(DType::kBool, std::move(dims), v); }
inline Tensor strs(Dims dims, const std::vector<std::string>& v) {
  Tensor t(DType::kString, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}
inline Attrs attrs(std::initializer_list<std::pair<std::string, kiln::AttrValue>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

inline void expect_values(const Tensor& t, DType dt, const Dims& dims, const std::vector<double>& expect) {
  ASSERT_EQ(t.dtype(), dt);
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expect.size()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (std::isnan(expect[i])) {
      EXPECT_TRUE(std::isnan(t.as_double(i))) << "element " << i;
    } else {
      EXPECT_DOUBLE_EQ(t.as_double(i), expect[i]) << "element " << i;
    }
  }
}

// Runs and expects success with output `index` of the given dtype, dims and values.
#define EWB_EXPECT_OUT(result, index, dt, dims, ...)                   \
  do {                                                                 \
    auto _r = (result);                                                \
    ASSERT_TRUE(_r.ok()) << _r.status().message();                     \
    kiln_ewb_test::expect_values((*_r)[index], dt, dims, __VA_ARGS__); \
  } while (0)
#define EWB_EXPECT(result, dt, dims, ...) EWB_EXPECT_OUT(result, 0, dt, dims, __VA_ARGS__)
#define EWB_EXPECT_FAILS(result) \
  do {                           \
    auto _r = (result);          \
    EXPECT_FALSE(_r.ok());       \
  } while (0)

}  // namespace kiln_ewb_test
