// Shared helpers for reference kernels: dtype dispatch, float conversion, strides and broadcasting.
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln {

// Calls `f.template operator()<T>()` with the C++ type T stored for `t`, for the types listed by the
// flags. fp16/bf16/fp8 are not dispatched here: convert them with to_float32()/from_float32().
// Returns unimplemented naming the dtype when `t` is not covered.
struct DispatchSet {
  bool floats = true;    // float, double
  bool ints = true;      // int8..int64, uint8..uint64
  bool boolean = false;  // bool (as uint8_t storage; dispatched as bool)
};

template <typename F>
Status dispatch_dtype(DType t, DispatchSet set, F&& f) {
  if (set.floats) {
    if (t == DType::kFloat32) { f.template operator()<float>(); return ok_status(); }
    if (t == DType::kFloat64) { f.template operator()<double>(); return ok_status(); }
  }
  if (set.ints) {
    switch (t) {
      case DType::kInt8: f.template operator()<int8_t>(); return ok_status();
      case DType::kInt16: f.template operator()<int16_t>(); return ok_status();
      case DType::kInt32: f.template operator()<int32_t>(); return ok_status();
      case DType::kInt64: f.template operator()<int64_t>(); return ok_status();
      case DType::kUInt8: f.template operator()<uint8_t>(); return ok_status();
      case DType::kUInt16: f.template operator()<uint16_t>(); return ok_status();
      case DType::kUInt32: f.template operator()<uint32_t>(); return ok_status();
      case DType::kUInt64: f.template operator()<uint64_t>(); return ok_status();
      default: break;
    }
  }
  if (set.boolean && t == DType::kBool) {
    f.template operator()<bool>();
    return ok_status();
  }
  return unimplemented(std::string("dtype ") + dtype_name(t) + " is not supported");
}

// True for float16, bfloat16, float8 and float4: types kernels compute in float32 via to_float32().
bool is_narrow_float(DType t);
// Element-wise conversion of any numeric tensor to float32 (or float64) and back. from_float32 rounds
// to nearest even for the narrow formats (saturate=false semantics of Cast).
Tensor to_float32(const Tensor& t);
Tensor to_float64(const Tensor& t);
Tensor from_float32(const Tensor& t, DType target);

// Row-major strides (in elements) of `dims`.
std::vector<int64_t> strides_of(const Dims& dims);
// Numpy broadcast of two concrete shapes; false if incompatible.
bool broadcast_dims(const Dims& a, const Dims& b, Dims* out);
// For each element of `out_dims` (row-major), the linear index into a tensor of `in_dims` broadcast to it.
std::vector<int64_t> broadcast_index_map(const Dims& in_dims, const Dims& out_dims);
// Axis in [-rank, rank) -> [0, rank); false if out of range.
bool normalize_axis_index(int64_t axis, int64_t rank, int64_t* out);
// Reads an integer tensor (any int dtype) as int64 values.
std::vector<int64_t> tensor_to_int64s(const Tensor& t);

}  // namespace kiln
