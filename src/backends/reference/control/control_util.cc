// Layout helpers shared by the control-family kernels.
#include "backends/reference/control/control_util.h"

#include <cstring>

namespace kiln::control {

namespace {

// Product of dims[begin, end).
int64_t span_numel(const Dims& dims, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) n *= dims[i];
  return n;
}

}  // namespace

void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == DType::kString) {
    for (int64_t i = 0; i < n; ++i) dst.strings()[dst_off + i] = src.strings()[src_off + i];
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + dst_off * es, static_cast<const char*>(src.raw()) + src_off * es,
              static_cast<size_t>(n) * es);
}

Tensor take_along_axis(const Tensor& t, int64_t axis, int64_t index) {
  const Dims& d = t.dims();
  const int64_t outer = span_numel(d, 0, axis);
  const int64_t len = d[axis];
  const int64_t inner = span_numel(d, axis + 1, d.size());
  Dims od;
  for (size_t i = 0; i < d.size(); ++i)
    if (static_cast<int64_t>(i) != axis) od.push_back(d[i]);
  Tensor out(t.dtype(), od);
  for (int64_t o = 0; o < outer; ++o) copy_elements(t, (o * len + index) * inner, out, o * inner, inner);
  return out;
}

Tensor slice_along_axis(const Tensor& t, int64_t axis, int64_t start, int64_t len) {
  const Dims& d = t.dims();
  const int64_t outer = span_numel(d, 0, axis);
  const int64_t full = d[axis];
  const int64_t inner = span_numel(d, axis + 1, d.size());
  Dims od = d;
  od[axis] = len;
  Tensor out(t.dtype(), od);
  for (int64_t o = 0; o < outer; ++o) copy_elements(t, (o * full + start) * inner, out, o * len * inner, len * inner);
  return out;
}

Tensor stack_leading(const std::vector<Tensor>& items, std::string* err) {
  const Tensor& first = items.front();
  for (size_t k = 1; k < items.size(); ++k) {
    if (items[k].dtype() != first.dtype() || items[k].dims() != first.dims()) {
      *err = "item " + std::to_string(k) + " is " + describe_tensor(items[k]) + " but item 0 is " +
             describe_tensor(first);
      return Tensor();
    }
  }
  Dims od = first.dims();
  od.insert(od.begin(), static_cast<int64_t>(items.size()));
  Tensor out(first.dtype(), od);
  const int64_t n = first.numel();
  for (size_t k = 0; k < items.size(); ++k) copy_elements(items[k], 0, out, static_cast<int64_t>(k) * n, n);
  return out;
}

Tensor move_leading_axis(const Tensor& t, int64_t to) {
  if (to == 0) return t;
  const Dims& d = t.dims();
  const int64_t a = d[0];
  const int64_t outer = span_numel(d, 1, to + 1);
  const int64_t inner = span_numel(d, to + 1, d.size());
  Dims od(d.begin() + 1, d.end());
  od.insert(od.begin() + to, a);
  Tensor out(t.dtype(), od);
  // in[a, o, i] -> out[o, a, i]
  for (int64_t ai = 0; ai < a; ++ai)
    for (int64_t o = 0; o < outer; ++o) copy_elements(t, (ai * outer + o) * inner, out, (o * a + ai) * inner, inner);
  return out;
}

Tensor concat_along_axis(const std::vector<Tensor>& items, int64_t axis, std::string* err) {
  const Tensor& first = items.front();
  int64_t total = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    const Tensor& t = items[k];
    bool same = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (size_t i = 0; same && i < t.rank(); ++i)
      if (static_cast<int64_t>(i) != axis && t.dim(i) != first.dim(i)) same = false;
    if (!same) {
      *err = "item " + std::to_string(k) + " is " + describe_tensor(t) + ", which cannot be concatenated with item 0 (" +
             describe_tensor(first) + ") along axis " + std::to_string(axis);
      return Tensor();
    }
    total += t.dim(axis);
  }
  Dims od = first.dims();
  od[axis] = total;
  Tensor out(first.dtype(), od);
  const int64_t outer = span_numel(od, 0, axis);
  const int64_t inner = span_numel(od, axis + 1, od.size());
  int64_t offset = 0;  // position along the axis
  for (const Tensor& t : items) {
    const int64_t len = t.dim(axis);
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(t, o * len * inner, out, (o * total + offset) * inner, len * inner);
    offset += len;
  }
  return out;
}

bool scalar_int(const Tensor& t, int64_t* out) {
  if (!t.defined() || t.numel() != 1 || !is_integer(t.dtype())) return false;
  *out = t.as_int64(0);
  return true;
}

bool scalar_bool(const Tensor& t, bool* out) {
  if (!t.defined() || t.numel() != 1 || t.dtype() == DType::kString) return false;
  *out = t.as_double(0) != 0.0;
  return true;
}

std::string describe_tensor(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  return std::string(dtype_name(t.dtype())) + "[" + dims_to_string(t.dims()) + "]";
}

std::string value_kind_name(const Value& v) {
  switch (v.kind) {
    case ValueKind::kTensor: return "a tensor";
    case ValueKind::kSequence: return "a sequence";
    case ValueKind::kOptional: return "an optional";
    default: return "an unknown value";
  }
}

}  // namespace kiln::control
