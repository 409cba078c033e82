// Helpers shared by the math-family reference kernels: float64/int64 staging of tensors and axis handling.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backends/reference/common.h"

namespace kiln::math_ref {

// Every element of a numeric tensor as a double (narrow floats decoded, bool as 0/1).
std::vector<double> read_doubles(const Tensor& t);
// Every element of an integer/bool tensor as int64 (uint64 values wrap).
std::vector<int64_t> read_int64s(const Tensor& t);
// A tensor of `dtype` holding `values` (floats round to the dtype; integers truncate toward zero and saturate;
// NaN becomes 0 for integers; bool is value != 0).
Tensor tensor_from_doubles(DType dtype, const Dims& dims, const std::vector<double>& values);
// A tensor of an integer/bool dtype holding `values` with two's-complement wrap-around.
Tensor tensor_from_int64s(DType dtype, const Dims& dims, const std::vector<int64_t>& values);

// `v` rounded to the precision of float dtype `t` (float64: unchanged).
double round_to_dtype(DType t, double v);

// True for the dtypes computed through doubles: float16/32/64, bfloat16, float8, float4.
inline bool is_float_like(DType t) { return is_float(t); }
// True for int8..int64 and uint8..uint64 (not sub-byte types).
bool is_plain_integer(DType t);

// Shape text for messages: "[2,3]".
std::string shape_str(const Dims& d);

// Largest output (in elements) the math kernels stage in memory; bigger requests fail instead of exhausting memory.
constexpr int64_t kMaxStagedElements = int64_t{1} << 30;
// Error unless `dims` is a valid shape of at most kMaxStagedElements elements.
Status check_output_size(const KernelContext& ctx, const Dims& dims);

// Reads a scalar (or single-element) integer input as int64; error naming `what` otherwise.
Status read_scalar_int(const KernelContext& ctx, size_t input, const std::string& what, int64_t* out);
// Reads a scalar (or single-element) numeric input as double.
Status read_scalar_double(const KernelContext& ctx, size_t input, const std::string& what, double* out);

}  // namespace kiln::math_ref
