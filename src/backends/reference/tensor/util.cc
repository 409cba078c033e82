// Helpers shared by the tensor-family reference kernels.
#include "backends/reference/tensor/util.h"

#include <cmath>
#include <cstring>

namespace kiln {

void copy_element(const Tensor& src, int64_t si, Tensor& dst, int64_t di) {
  if (src.dtype() == DType::kString) {
    dst.strings()[di] = src.strings()[si];
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + di * es, static_cast<const char*>(src.raw()) + si * es, es);
}

void copy_elements(const Tensor& src, int64_t si, Tensor& dst, int64_t di, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == DType::kString) {
    for (int64_t k = 0; k < n; ++k) dst.strings()[di + k] = src.strings()[si + k];
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + di * es, static_cast<const char*>(src.raw()) + si * es, es * n);
}

Result<Tensor> alloc_output(const KernelContext& ctx, DType dtype, const Dims& dims) {
  for (int64_t d : dims)
    if (d < 0) return ctx.error("output shape " + ints_to_string(dims) + " has a negative dimension");
  auto t = Tensor::allocate(dtype, dims);
  if (!t.ok()) return t.status().with_context(ctx.node().describe());
  return t;
}

Status check_output_numel(const KernelContext& ctx, const Dims& dims) {
  const int64_t n = dims_numel(dims);
  if (n < 0) return ctx.error("output shape " + ints_to_string(dims) + " is invalid or overflows");
  if (n > (int64_t{1} << 36))
    return resource_exhausted(ctx.node().describe() + ": output shape " + ints_to_string(dims) + " is too large");
  return ok_status();
}

Result<Tensor> gather_by_map(const KernelContext& ctx, const Tensor& src, const Dims& dims,
                             const std::vector<int64_t>& map, const Tensor* fill) {
  KILN_ASSIGN_OR_RETURN(Tensor out, alloc_output(ctx, src.dtype(), dims));
  for (int64_t k = 0; k < out.numel(); ++k) {
    if (map[k] >= 0) copy_element(src, map[k], out, k);
    else if (fill) copy_element(*fill, 0, out, k);
  }
  return out;
}

Status read_int_input(const KernelContext& ctx, size_t i, const char* what, std::vector<int64_t>* out) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& t = ctx.input(i);
  if (!is_integer(t.dtype()))
    return ctx.error(std::string("input '") + what + "' must be an integer tensor, got " + dtype_name(t.dtype()));
  *out = tensor_to_int64s(t);
  return ok_status();
}

void unravel_index(int64_t k, const Dims& dims, std::vector<int64_t>* idx) {
  idx->assign(dims.size(), 0);
  for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
    if (dims[d] == 0) return;
    (*idx)[d] = k % dims[d];
    k /= dims[d];
  }
}

std::string ints_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

Result<Tensor> make_scalar(const KernelContext& ctx, DType dtype, double v) {
  if (is_float(dtype)) {
    if (dtype == DType::kFloat64) return Tensor::scalar<double>(dtype, v);
    return from_float32(Tensor::scalar<float>(DType::kFloat32, static_cast<float>(v)), dtype);
  }
  Tensor t(dtype == DType::kUndefined ? DType::kFloat32 : dtype, {});
  switch (dtype) {
    case DType::kBool: t.data<uint8_t>()[0] = v != 0; break;
    case DType::kInt8: case DType::kInt4: case DType::kInt2: t.data<int8_t>()[0] = static_cast<int8_t>(v); break;
    case DType::kUInt8: case DType::kUInt4: case DType::kUInt2: t.data<uint8_t>()[0] = static_cast<uint8_t>(v); break;
    case DType::kInt16: t.data<int16_t>()[0] = static_cast<int16_t>(v); break;
    case DType::kUInt16: t.data<uint16_t>()[0] = static_cast<uint16_t>(v); break;
    case DType::kInt32: t.data<int32_t>()[0] = static_cast<int32_t>(v); break;
    case DType::kUInt32: t.data<uint32_t>()[0] = static_cast<uint32_t>(v); break;
    case DType::kInt64: t.data<int64_t>()[0] = static_cast<int64_t>(v); break;
    case DType::kUInt64: t.data<uint64_t>()[0] = static_cast<uint64_t>(v); break;
    default: return ctx.unsupported(std::string("dtype ") + dtype_name(dtype) + " is not supported here");
  }
  return t;
}

namespace {
template <typename T>
int three_way(T x, T y) {
  return x < y ? -1 : (y < x ? 1 : 0);
}
}  // namespace

int compare_elements(const Tensor& a, int64_t i, const Tensor& b, int64_t j) {
  switch (a.dtype()) {
    case DType::kString: return three_way(a.strings()[i], b.strings()[j]);
    case DType::kUInt64: return three_way(a.data<uint64_t>()[i], b.data<uint64_t>()[j]);
    case DType::kInt64: return three_way(a.data<int64_t>()[i], b.data<int64_t>()[j]);
    default: break;
  }
  if (is_integer(a.dtype()) || a.dtype() == DType::kBool) return three_way(a.as_int64(i), b.as_int64(j));
  double x = a.as_double(i), y = b.as_double(j);
  bool nx = std::isnan(x), ny = std::isnan(y);
  if (nx || ny) return nx == ny ? 0 : (nx ? 1 : -1);
  return three_way(x, y);
}

}  // namespace kiln
