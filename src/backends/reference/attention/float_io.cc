// Float I/O helpers for the attention family's kernels.
#include "backends/reference/attention/float_io.h"

#include <cmath>

namespace kiln {
namespace attn {

std::vector<double> read_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kBool) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<uint8_t>()[i] ? 1.0 : 0.0;
    return v;
  }
  if (t.dtype() == DType::kFloat64) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<double>()[i];
    return v;
  }
  if (t.dtype() == DType::kFloat32) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<float>()[i];
    return v;
  }
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_double(i);
  return v;
}

Result<Tensor> make_tensor_from_doubles(DType dtype, const Dims& dims, const std::vector<double>& values) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, dims));
  const int64_t n = out.numel();
  if (static_cast<int64_t>(values.size()) != n) return internal_error("make_tensor_from_doubles: size mismatch");
  if (dtype == DType::kFloat64) {
    for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = values[i];
    return out;
  }
  if (is_float(dtype)) {
    KILN_ASSIGN_OR_RETURN(Tensor f, Tensor::allocate(DType::kFloat32, dims));
    for (int64_t i = 0; i < n; ++i) f.data<float>()[i] = static_cast<float>(values[i]);
    return from_float32(f, dtype);
  }
  switch (dtype) {
    case DType::kInt8:
      for (int64_t i = 0; i < n; ++i) out.data<int8_t>()[i] = static_cast<int8_t>(values[i]);
      break;
    case DType::kInt16:
      for (int64_t i = 0; i < n; ++i) out.data<int16_t>()[i] = static_cast<int16_t>(values[i]);
      break;
    case DType::kInt32:
      for (int64_t i = 0; i < n; ++i) out.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
      break;
    case DType::kInt64:
      for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = static_cast<int64_t>(values[i]);
      break;
    case DType::kUInt8:
      for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
      break;
    case DType::kUInt16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = static_cast<uint16_t>(values[i]);
      break;
    case DType::kUInt32:
      for (int64_t i = 0; i < n; ++i) out.data<uint32_t>()[i] = static_cast<uint32_t>(values[i]);
      break;
    case DType::kUInt64:
      for (int64_t i = 0; i < n; ++i) out.data<uint64_t>()[i] = static_cast<uint64_t>(values[i]);
      break;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = values[i] != 0.0 ? 1 : 0;
      break;
    default:
      return unimplemented(std::string("cannot write dtype ") + dtype_name(dtype));
  }
  return out;
}

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace attn
}  // namespace kiln
