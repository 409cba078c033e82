// Float I/O helpers for the attention family: read any real tensor as doubles, write doubles as any float dtype.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/common.h"

namespace kiln {
namespace attn {

// True for the floating dtypes these kernels compute in double: float16/32/64 and bfloat16.
inline bool is_compute_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Element values of a numeric tensor as doubles (bool reads as 0/1).
std::vector<double> read_doubles(const Tensor& t);

// A tensor of `dtype` (any float type or integer type) holding `values` rounded to that type.
// Fails (instead of aborting) when the size is invalid.
Result<Tensor> make_tensor_from_doubles(DType dtype, const Dims& dims, const std::vector<double>& values);

// Shape as "[2,3,4]" for messages.
std::string dims_str(const Dims& d);

}  // namespace attn
}  // namespace kiln
