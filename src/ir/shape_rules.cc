// Shared output-shape arithmetic of ops (see shape_rules.h).
#include "ir/shape_rules.h"

#include <algorithm>
#include <string>

namespace kiln {

namespace {

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Result<Dims> reshape_output_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero) {
  const int64_t numel = dims_numel(in);
  Dims out(shape.size());
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == -1) {
      if (infer_at >= 0) return invalid_argument("shape " + ints(shape) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) return invalid_argument("shape " + ints(shape) + " has an invalid dimension " + std::to_string(d));
    if (d == 0 && !allowzero) {
      if (i >= in.size())
        return invalid_argument("shape " + ints(shape) + " copies dimension " + std::to_string(i) +
                                " (0) but the input has rank " + std::to_string(in.size()));
      d = in[i];
    }
    out[i] = d;
    known *= d;
  }
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      return invalid_argument("cannot reshape input " + dims_to_string(in) + " to " + ints(shape));
    out[infer_at] = numel / known;
  }
  if (dims_numel(out) != numel)
    return invalid_argument("cannot reshape input " + dims_to_string(in) + " (" + std::to_string(numel) +
                            " elements) to " + ints(out));
  return out;
}

SliceRange slice_range(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (dim <= 0 || step == 0) return {};
  int64_t b = start < 0 ? start + dim : start;
  int64_t e = end < 0 ? end + dim : end;
  if (step > 0) {
    b = std::clamp<int64_t>(b, 0, dim);
    e = std::clamp<int64_t>(e, 0, dim);
    return {b, e > b ? (e - b - 1) / step + 1 : 0};
  }
  b = std::clamp<int64_t>(b, 0, dim - 1);
  e = std::clamp<int64_t>(e, -1, dim - 1);
  return {b, b > e ? (b - e - 1) / -std::max<int64_t>(step, -INT64_MAX) + 1 : 0};
}

Status check_element_indices(const Dims& data, const Dims& indices, int64_t axis) {
  const size_t r = data.size();
  if (r == 0 || indices.size() != r)
    return invalid_argument("indices rank " + std::to_string(indices.size()) + " must equal data rank " +
                            std::to_string(r) + " (>= 1)");
  for (size_t d = 0; d < r; ++d)
    if (static_cast<int64_t>(d) != axis && indices[d] > data[d])
      return invalid_argument("indices shape " + dims_to_string(indices) + " exceeds data shape " + dims_to_string(data) +
                              " on axis " + std::to_string(d));
  return ok_status();
}

Result<Dims> scatter_nd_updates_dims(const Dims& data, const Dims& indices) {
  if (data.empty() || indices.empty()) return invalid_argument("data and indices must have rank >= 1");
  const int64_t last = indices.back(), r = static_cast<int64_t>(data.size());
  if (last > r)
    return invalid_argument("indices last dimension " + std::to_string(last) + " exceeds data rank " + std::to_string(r));
  Dims want(indices.begin(), indices.end() - 1);
  want.insert(want.end(), data.begin() + std::max<int64_t>(0, last), data.end());
  return want;
}

}  // namespace kiln
