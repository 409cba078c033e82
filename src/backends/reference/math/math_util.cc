// Staging helpers of the math-family reference kernels (tensor <-> double/int64 vectors).
#include "backends/reference/math/math_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::math_ref {

std::vector<double> read_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat32) {
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = p[i];
  } else if (t.dtype() == DType::kFloat64) {
    const double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = p[i];
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_double(i);
  }
  return v;
}

std::vector<int64_t> read_int64s(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_int64(i);
  return v;
}

bool is_plain_integer(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

namespace {

template <typename T>
T saturating_cast(double x) {
  if (std::isnan(x)) return T(0);
  const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (x <= lo) return std::numeric_limits<T>::lowest();
  if (x >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(x);
}

}  // namespace

Tensor tensor_from_doubles(DType dtype, const Dims& dims, const std::vector<double>& values) {
  if (dtype == DType::kFloat64) return Tensor::from_vector<double>(dtype, dims, values);
  if (is_float(dtype)) {
    Tensor f(DType::kFloat32, dims);
    float* p = f.data<float>();
    for (size_t i = 0; i < values.size() && i < static_cast<size_t>(f.numel()); ++i)
      p[i] = static_cast<float>(values[i]);
    return from_float32(f, dtype);
  }
  Tensor out(dtype, dims);
  const int64_t n = std::min<int64_t>(out.numel(), static_cast<int64_t>(values.size()));
  switch (dtype) {
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = values[i] != 0;
      break;
    case DType::kInt8:
      for (int64_t i = 0; i < n; ++i) out.data<int8_t>()[i] = saturating_cast<int8_t>(values[i]);
      break;
    case DType::kInt16:
      for (int64_t i = 0; i < n; ++i) out.data<int16_t>()[i] = saturating_cast<int16_t>(values[i]);
      break;
    case DType::kInt32:
      for (int64_t i = 0; i < n; ++i) out.data<int32_t>()[i] = saturating_cast<int32_t>(values[i]);
      break;
    case DType::kInt64:
      for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = saturating_cast<int64_t>(values[i]);
      break;
    case DType::kUInt8:
      for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = saturating_cast<uint8_t>(values[i]);
      break;
    case DType::kUInt16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = saturating_cast<uint16_t>(values[i]);
      break;
    case DType::kUInt32:
      for (int64_t i = 0; i < n; ++i) out.data<uint32_t>()[i] = saturating_cast<uint32_t>(values[i]);
      break;
    case DType::kUInt64:
      for (int64_t i = 0; i < n; ++i) out.data<uint64_t>()[i] = saturating_cast<uint64_t>(values[i]);
      break;
    case DType::kInt4:
      for (int64_t i = 0; i < n; ++i)
        out.data<int8_t>()[i] =
            static_cast<int8_t>(std::clamp(saturating_cast<int64_t>(values[i]), int64_t{-8}, int64_t{7}));
      break;
    case DType::kUInt4:
      for (int64_t i = 0; i < n; ++i)
        out.data<uint8_t>()[i] =
            static_cast<uint8_t>(std::clamp(saturating_cast<int64_t>(values[i]), int64_t{0}, int64_t{15}));
      break;
    case DType::kInt2:
      for (int64_t i = 0; i < n; ++i)
        out.data<int8_t>()[i] =
            static_cast<int8_t>(std::clamp(saturating_cast<int64_t>(values[i]), int64_t{-2}, int64_t{1}));
      break;
    case DType::kUInt2:
      for (int64_t i = 0; i < n; ++i)
        out.data<uint8_t>()[i] =
            static_cast<uint8_t>(std::clamp(saturating_cast<int64_t>(values[i]), int64_t{0}, int64_t{3}));
      break;
    default:
      break;
  }
  return out;
}

Tensor tensor_from_int64s(DType dtype, const Dims& dims, const std::vector<int64_t>& values) {
  Tensor out(dtype, dims);
  const int64_t n = std::min<int64_t>(out.numel(), static_cast<int64_t>(values.size()));
  switch (dtype) {
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = values[i] != 0;
      break;
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
      for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = values[i];
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
    default: {
      std::vector<double> d(values.begin(), values.end());
      return tensor_from_doubles(dtype, dims, d);
    }
  }
  return out;
}

double round_to_dtype(DType t, double v) {
  if (t == DType::kFloat64 || !is_float(t)) return v;
  Tensor f = Tensor::scalar<float>(DType::kFloat32, static_cast<float>(v));
  if (t == DType::kFloat32) return f.data<float>()[0];
  return from_float32(f, t).as_double(0);
}

std::string shape_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Status check_output_size(const KernelContext& ctx, const Dims& dims) {
  const int64_t n = dims_numel(dims);
  if (n < 0 || n > kMaxStagedElements)
    return resource_exhausted(ctx.node().describe() + ": output shape " + shape_str(dims) + " is too large (limit " +
                              std::to_string(kMaxStagedElements) + " elements)");
  return ok_status();
}

Status read_scalar_int(const KernelContext& ctx, size_t input, const std::string& what, int64_t* out) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(input));
  const Tensor& t = ctx.input(input);
  if (!is_integer(t.dtype())) return ctx.error(what + " must be an integer tensor, got " + dtype_name(t.dtype()));
  if (t.numel() != 1) return ctx.error(what + " must hold one value, got shape " + shape_str(t.dims()));
  *out = t.as_int64(0);
  return ok_status();
}

Status read_scalar_double(const KernelContext& ctx, size_t input, const std::string& what, double* out) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(input));
  const Tensor& t = ctx.input(input);
  if (t.dtype() == DType::kString) return ctx.error(what + " must be numeric");
  if (t.numel() != 1) return ctx.error(what + " must hold one value, got shape " + shape_str(t.dims()));
  *out = t.as_double(0);
  return ok_status();
}

}  // namespace kiln::math_ref
