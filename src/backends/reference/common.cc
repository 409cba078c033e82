// Shared reference-kernel helpers.
#include "backends/reference/common.h"

#include "core/float_formats.h"

namespace kiln {

bool is_narrow_float(DType t) { return is_float(t) && t != DType::kFloat32 && t != DType::kFloat64; }

Tensor to_float32(const Tensor& t) {
  if (t.dtype() == DType::kFloat32) return t;
  Tensor out(DType::kFloat32, t.dims());
  float* o = out.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) o[i] = static_cast<float>(t.as_double(i));
  return out;
}

Tensor to_float64(const Tensor& t) {
  if (t.dtype() == DType::kFloat64) return t;
  Tensor out(DType::kFloat64, t.dims());
  double* o = out.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) o[i] = t.as_double(i);
  return out;
}

Tensor from_float32(const Tensor& t, DType target) {
  if (target == DType::kFloat32) return t;
  const float* in = t.data<float>();
  Tensor out(target, t.dims());
  const int64_t n = t.numel();
  switch (target) {
    case DType::kFloat64: for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = in[i]; break;
    case DType::kFloat16: for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = float_to_half(in[i]); break;
    case DType::kBFloat16: for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = float_to_bf16(in[i]); break;
    case DType::kFloat8E4M3FN: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp8e4m3fn(in[i], false); break;
    case DType::kFloat8E4M3FNUZ: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp8e4m3fnuz(in[i], false); break;
    case DType::kFloat8E5M2: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp8e5m2(in[i], false); break;
    case DType::kFloat8E5M2FNUZ: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp8e5m2fnuz(in[i], false); break;
    case DType::kFloat8E8M0: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp8e8m0(in[i], false, "up"); break;
    case DType::kFloat4E2M1: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = float_to_fp4e2m1(in[i], false); break;
    default: KILN_CHECK(false && "from_float32: target is not a float type");
  }
  return out;
}

std::vector<int64_t> strides_of(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

bool broadcast_dims(const Dims& a, const Dims& b, Dims* out) {
  size_t r = std::max(a.size(), b.size());
  Dims d(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x != y && x != 1 && y != 1) return false;
    d[i] = x == 1 ? y : x;
  }
  *out = std::move(d);
  return true;
}

std::vector<int64_t> broadcast_index_map(const Dims& in_dims, const Dims& out_dims) {
  const size_t r = out_dims.size();
  std::vector<int64_t> in_strides(r, 0);
  auto s = strides_of(in_dims);
  for (size_t i = 0; i < in_dims.size(); ++i) {
    size_t oi = r - in_dims.size() + i;
    in_strides[oi] = in_dims[i] == 1 ? 0 : s[i];
  }
  int64_t n = dims_numel(out_dims);
  std::vector<int64_t> map(static_cast<size_t>(n));
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    map[k] = off;
    for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
      if (++idx[d] < out_dims[d]) {
        off += in_strides[d];
        break;
      }
      off -= in_strides[d] * (out_dims[d] - 1);
      idx[d] = 0;
    }
  }
  return map;
}

bool normalize_axis_index(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

std::vector<int64_t> tensor_to_int64s(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.as_int64(i);
  return v;
}

}  // namespace kiln
