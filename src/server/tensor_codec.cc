// Wire tensor <-> Kiln tensor conversions (raw little-endian row-major bytes; BYTES as 4-byte length + data).
#include "server/tensor_codec.h"

#include <cstring>

namespace kiln::server {

namespace {

uint32_t read_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

ServerStatus check_tensor_bytes(const InferTensor& t, int64_t* numel) {
  int64_t n = dims_numel(t.shape);
  for (auto d : t.shape)
    if (d < 0) n = -1;
  if (n < 0)
    return server_error(ServerCode::kInvalidArgument,
                        "input '" + t.name + "': invalid shape " + dims_to_string(t.shape));
  *numel = n;
  if (t.dtype == DType::kString) {
    size_t pos = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (t.data.size() - pos < 4)
        return server_error(ServerCode::kInvalidArgument,
                            "input '" + t.name + "': BYTES data holds fewer than " + std::to_string(n) + " elements");
      uint32_t len = read_u32(t.data.data() + pos);
      pos += 4;
      if (t.data.size() - pos < len)
        return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': BYTES element " + std::to_string(i) +
                                                              " runs past the end of the data");
      pos += len;
    }
    if (pos != t.data.size())
      return server_error(ServerCode::kInvalidArgument,
                          "input '" + t.name + "': BYTES data has " + std::to_string(t.data.size() - pos) +
                              " bytes after the last of " + std::to_string(n) + " elements");
    return {};
  }
  size_t elem = dtype_size(t.dtype);
  if (elem == 0) return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': unsupported datatype");
  if (static_cast<uint64_t>(n) > t.data.size() / elem || static_cast<uint64_t>(n) * elem != t.data.size())
    return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': shape " + dims_to_string(t.shape) +
                                                          " of " + datatype_name(t.dtype) + " needs " +
                                                          std::to_string(static_cast<uint64_t>(n) * elem) +
                                                          " bytes, got " + std::to_string(t.data.size()));
  return {};
}

Result<Tensor> concat_tensors(const std::vector<const InferTensor*>& parts, DType dtype, const Dims& dims,
                              bool zero_fill_tail, Tensor* reuse) {
  Tensor t;
  if (reuse && dtype != DType::kString && reuse->defined() && reuse->dtype() == dtype && reuse->dims() == dims) {
    t = *reuse;
  } else {
    KILN_ASSIGN_OR_RETURN(t, Tensor::allocate(dtype, dims));
    if (reuse && dtype != DType::kString) *reuse = t;
  }
  if (dtype == DType::kString) {
    std::string* out = t.strings();
    int64_t k = 0;
    for (const InferTensor* p : parts) {
      size_t pos = 0;
      while (pos + 4 <= p->data.size() && k < t.numel()) {
        uint32_t len = read_u32(p->data.data() + pos);
        out[k++].assign(p->data.data() + pos + 4, len);
        pos += 4 + len;
      }
    }
    if (k != t.numel())
      return internal_error("BYTES inputs hold " + std::to_string(k) + " elements, expected " +
                            std::to_string(t.numel()));
    return t;
  }
  char* dst = static_cast<char*>(t.raw());
  size_t off = 0;
  for (const InferTensor* p : parts) {
    if (off + p->data.size() > t.nbytes()) return internal_error("input parts exceed the batch tensor");
    std::memcpy(dst + off, p->data.data(), p->data.size());
    off += p->data.size();
  }
  if (zero_fill_tail && off < t.nbytes()) std::memset(dst + off, 0, t.nbytes() - off);
  else if (off != t.nbytes()) return internal_error("input parts do not fill the batch tensor");
  return t;
}

void slice_rows(const Tensor& t, int64_t begin, int64_t rows, InferTensor* out) {
  out->dtype = t.dtype();
  out->shape = t.dims();
  int64_t row_elems = 1;
  int64_t first = 0, count = t.numel();
  if (begin >= 0) {
    for (size_t i = 1; i < t.rank(); ++i) row_elems *= t.dim(i);
    out->shape[0] = rows;
    first = begin * row_elems;
    count = rows * row_elems;
  }
  if (t.dtype() == DType::kString) {
    const std::string* s = t.strings();
    size_t total = 0;
    for (int64_t i = first; i < first + count; ++i) total += 4 + s[i].size();
    out->data.resize(total);
    char* p = out->data.data();
    for (int64_t i = first; i < first + count; ++i) {
      uint32_t len = static_cast<uint32_t>(s[i].size());
      std::memcpy(p, &len, 4);
      std::memcpy(p + 4, s[i].data(), len);
      p += 4 + len;
    }
    return;
  }
  size_t elem = dtype_size(t.dtype());
  out->data.assign(static_cast<const char*>(t.raw()) + first * elem, count * elem);
}

}  // namespace kiln::server
