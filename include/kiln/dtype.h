// Element types. Numeric values equal ONNX TensorProto.DataType so conversion is a cast.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

enum class DType : uint8_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
  kUInt2 = 25,
  kInt2 = 26,
};
constexpr int kMaxDType = 26;

// Bytes one element occupies in memory. Sub-byte types (int4, uint4, int2, uint2, float4) are kept
// unpacked, one element per byte, in memory and in engines; they are packed only in ONNX TensorProtos.
// kString elements are std::string objects. Returns 0 for kUndefined.
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "int64", ... (lowercase, numpy-like)
bool dtype_from_int(int64_t v, DType* out);  // false for unknown values
bool dtype_from_name(const std::string& name, DType* out);
bool is_float(DType t);          // float16/32/64, bfloat16, float8*, float4
bool is_signed_int(DType t);     // int2..int64
bool is_unsigned_int(DType t);   // uint2..uint64
inline bool is_integer(DType t) { return is_signed_int(t) || is_unsigned_int(t); }
bool is_sub_byte(DType t);       // int4/uint4/int2/uint2/float4e2m1
bool is_float8(DType t);

}  // namespace kiln
