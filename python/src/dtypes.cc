// DLPack dtype codes <-> kiln::DType, and the numpy-side type of each Kiln output dtype.
#include "dtypes.h"

namespace nb = nanobind;
using Code = nb::dlpack::dtype_code;

namespace kiln::py {

bool dtype_from_dlpack(nb::dlpack::dtype d, DType* out) {
  if (d.lanes != 1) return false;
  const auto code = static_cast<Code>(d.code);
  struct Row {
    Code code;
    int bits;
    DType dtype;
  };
  static const Row kRows[] = {
      {Code::Int, 8, DType::kInt8},          {Code::Int, 16, DType::kInt16},
      {Code::Int, 32, DType::kInt32},        {Code::Int, 64, DType::kInt64},
      {Code::UInt, 8, DType::kUInt8},        {Code::UInt, 16, DType::kUInt16},
      {Code::UInt, 32, DType::kUInt32},      {Code::UInt, 64, DType::kUInt64},
      {Code::Float, 16, DType::kFloat16},    {Code::Float, 32, DType::kFloat32},
      {Code::Float, 64, DType::kFloat64},    {Code::Bfloat, 16, DType::kBFloat16},
      {Code::Bool, 8, DType::kBool},         {Code::Complex, 64, DType::kComplex64},
      {Code::Complex, 128, DType::kComplex128},
      {Code::Float8_E4M3FN, 8, DType::kFloat8E4M3FN},     {Code::Float8_E4M3FNUZ, 8, DType::kFloat8E4M3FNUZ},
      {Code::Float8_E5M2, 8, DType::kFloat8E5M2},         {Code::Float8_E5M2FNUZ, 8, DType::kFloat8E5M2FNUZ},
      {Code::Float8_E8M0FNU, 8, DType::kFloat8E8M0},
  };
  for (const Row& r : kRows)
    if (r.code == code && r.bits == d.bits) {
      *out = r.dtype;
      return true;
    }
  return false;
}

bool dtype_to_dlpack(DType t, nb::dlpack::dtype* out, bool* widen) {
  *widen = false;
  auto make = [&](Code c, int bits) {
    *out = nb::dlpack::dtype{static_cast<uint8_t>(c), static_cast<uint8_t>(bits), 1};
    return true;
  };
  switch (t) {
    case DType::kInt8: case DType::kInt4: case DType::kInt2: return make(Code::Int, 8);
    case DType::kInt16: return make(Code::Int, 16);
    case DType::kInt32: return make(Code::Int, 32);
    case DType::kInt64: return make(Code::Int, 64);
    case DType::kUInt8: case DType::kUInt4: case DType::kUInt2: return make(Code::UInt, 8);
    case DType::kUInt16: return make(Code::UInt, 16);
    case DType::kUInt32: return make(Code::UInt, 32);
    case DType::kUInt64: return make(Code::UInt, 64);
    case DType::kFloat16: return make(Code::Float, 16);
    case DType::kFloat32: return make(Code::Float, 32);
    case DType::kFloat64: return make(Code::Float, 64);
    case DType::kBool: return make(Code::Bool, 8);
    case DType::kComplex64: return make(Code::Complex, 64);
    case DType::kComplex128: return make(Code::Complex, 128);
    case DType::kBFloat16: case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ: case DType::kFloat8E8M0: case DType::kFloat4E2M1:
      *widen = true;
      return make(Code::Float, 32);
    case DType::kString: case DType::kUndefined: return false;
  }
  return false;
}

std::string dlpack_dtype_name(nb::dlpack::dtype d) {
  DType t;
  if (dtype_from_dlpack(d, &t)) return dtype_name(t);
  return "dlpack(code=" + std::to_string(d.code) + ", bits=" + std::to_string(d.bits) +
         ", lanes=" + std::to_string(d.lanes) + ")";
}

}  // namespace kiln::py
