// Tensor storage and element access.
#include "kiln/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "core/float_formats.h"

namespace kiln {

int64_t dims_numel(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string dims_to_string(const Dims& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += "x";
    s += std::to_string(dims[i]);
  }
  return s;
}

namespace {

struct StringArray {
  std::string* items;
  int64_t n;
  ~StringArray() {
    for (int64_t i = 0; i < n; ++i) items[i].~basic_string();
    std::free(items);
  }
};

std::shared_ptr<void> alloc_storage(DType dtype, int64_t numel, void** data) {
  size_t bytes = static_cast<size_t>(numel) * dtype_size(dtype);
  size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) return nullptr;
  std::memset(p, 0, rounded);
  *data = p;
  if (dtype == DType::kString) {
    auto* s = static_cast<std::string*>(p);
    for (int64_t i = 0; i < numel; ++i) new (&s[i]) std::string();
    return std::shared_ptr<void>(new StringArray{s, numel}, [](void* a) { delete static_cast<StringArray*>(a); });
  }
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

Tensor::Tensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  numel_ = dims_numel(dims_);
  KILN_CHECK(numel_ >= 0);
  KILN_CHECK(dtype != DType::kUndefined);
  holder_ = alloc_storage(dtype_, numel_, &data_);
  KILN_CHECK(holder_ != nullptr);
}

Tensor Tensor::wrap(DType dtype, Dims dims, void* data, std::shared_ptr<void> owner) {
  KILN_CHECK(dtype != DType::kString);
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = dims_numel(t.dims_);
  KILN_CHECK(t.numel_ >= 0);
  t.data_ = data;
  t.holder_ = std::move(owner);
  return t;
}

Result<Tensor> Tensor::allocate(DType dtype, Dims dims, size_t max_bytes) {
  int64_t n = dims_numel(dims);
  if (n < 0) return invalid_argument("invalid tensor dims " + dims_to_string(dims));
  if (dtype == DType::kUndefined) return invalid_argument("cannot allocate a tensor of undefined type");
  if (static_cast<uint64_t>(n) > max_bytes / std::max<size_t>(1, dtype_size(dtype)))
    return resource_exhausted("tensor " + dims_to_string(dims) + " of " + dtype_name(dtype) + " exceeds the size limit");
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = n;
  t.holder_ = alloc_storage(dtype, n, &t.data_);
  if (!t.holder_) return resource_exhausted("out of host memory allocating " + dims_to_string(t.dims_));
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t(dtype_, dims_);
  if (dtype_ == DType::kString) {
    for (int64_t i = 0; i < numel_; ++i) t.strings()[i] = strings()[i];
  } else if (nbytes()) {
    std::memcpy(t.data_, data_, nbytes());
  }
  return t;
}

Tensor Tensor::reshaped(Dims dims) const {
  Tensor t = *this;
  KILN_CHECK(dims_numel(dims) == numel_);
  t.dims_ = std::move(dims);
  return t;
}

double Tensor::as_double(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32: return data<float>()[i];
    case DType::kFloat64: return data<double>()[i];
    case DType::kFloat16: return half_to_float(data<uint16_t>()[i]);
    case DType::kBFloat16: return bf16_to_float(data<uint16_t>()[i]);
    case DType::kFloat8E4M3FN: return fp8e4m3fn_to_float(data<uint8_t>()[i]);
    case DType::kFloat8E4M3FNUZ: return fp8e4m3fnuz_to_float(data<uint8_t>()[i]);
    case DType::kFloat8E5M2: return fp8e5m2_to_float(data<uint8_t>()[i]);
    case DType::kFloat8E5M2FNUZ: return fp8e5m2fnuz_to_float(data<uint8_t>()[i]);
    case DType::kFloat8E8M0: return fp8e8m0_to_float(data<uint8_t>()[i]);
    case DType::kFloat4E2M1: return fp4e2m1_to_float(data<uint8_t>()[i]);
    case DType::kUInt64: return static_cast<double>(data<uint64_t>()[i]);
    default: return static_cast<double>(as_int64(i));
  }
}

int64_t Tensor::as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::kInt8: case DType::kInt4: case DType::kInt2: return data<int8_t>()[i];
    case DType::kUInt8: case DType::kUInt4: case DType::kUInt2: case DType::kBool: return data<uint8_t>()[i];
    case DType::kInt16: return data<int16_t>()[i];
    case DType::kUInt16: return data<uint16_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kUInt32: return data<uint32_t>()[i];
    case DType::kInt64: return data<int64_t>()[i];
    case DType::kUInt64: return static_cast<int64_t>(data<uint64_t>()[i]);
    case DType::kString: case DType::kUndefined: case DType::kComplex64: case DType::kComplex128: return 0;
    default: return static_cast<int64_t>(as_double(i));
  }
}

bool Tensor::identical(const Tensor& o) const {
  if (dtype_ != o.dtype_ || dims_ != o.dims_) return false;
  if (dtype_ == DType::kString) {
    for (int64_t i = 0; i < numel_; ++i)
      if (strings()[i] != o.strings()[i]) return false;
    return true;
  }
  return nbytes() == 0 || std::memcmp(data_, o.data_, nbytes()) == 0;
}

}  // namespace kiln
