// Tensor: a dense, row-major, host-resident array with shared ownership of its bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

using Dims = std::vector<int64_t>;

// Largest single tensor a kernel may allocate from sizes computed out of user data (16 GiB).
constexpr size_t kDefaultMaxTensorBytes = size_t{16} << 30;

// Number of elements of `dims`; 1 for a scalar. Returns -1 if a dim is negative or the product overflows.
int64_t dims_numel(const Dims& dims);
std::string dims_to_string(const Dims& dims);  // "1x3x224x224", "scalar" for rank 0

// A Tensor is a cheap handle: copies share the same bytes (like a shared_ptr). Use clone() for a deep copy.
// Element storage: dtype_size(dtype) bytes per element, 64-byte aligned; kString tensors hold std::string
// objects. A default-constructed Tensor is "undefined" (dtype kUndefined).
class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialized storage. KILN_CHECKs that numel is valid; validate user sizes before calling.
  Tensor(DType dtype, Dims dims);
  // Wraps external memory that `owner` keeps alive (e.g. an mmapped engine file). Not for kString.
  static Tensor wrap(DType dtype, Dims dims, void* data, std::shared_ptr<void> owner);
  // Allocates with a size check: fails (instead of aborting) if dims are negative or the size is over `max_bytes`.
  static Result<Tensor> allocate(DType dtype, Dims dims, size_t max_bytes = kDefaultMaxTensorBytes);
  template <typename T>
  static Tensor scalar(DType dtype, T value) {
    Tensor t(dtype, {});
    *t.data<T>() = value;
    return t;
  }
  template <typename T>
  static Tensor from_vector(DType dtype, Dims dims, const std::vector<T>& values) {
    Tensor t(dtype, std::move(dims));
    for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i) t.data<T>()[i] = values[i];
    return t;
  }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t dim(size_t i) const { return dims_[i]; }
  size_t rank() const { return dims_.size(); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() { return static_cast<T*>(data_); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(data_); }
  std::string* strings() { return static_cast<std::string*>(data_); }
  const std::string* strings() const { return static_cast<const std::string*>(data_); }

  Tensor clone() const;
  // Same bytes, new dims with the same element count (KILN_CHECKed).
  Tensor reshaped(Dims dims) const;
  // Value of element i converted to double / int64 (numeric types only; strings give 0).
  double as_double(int64_t i) const;
  int64_t as_int64(int64_t i) const;
  // Bitwise/string-wise identical dtype, dims and contents.
  bool identical(const Tensor& other) const;

 private:
  DType dtype_ = DType::kUndefined;
  Dims dims_;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> holder_;
};

}  // namespace kiln
