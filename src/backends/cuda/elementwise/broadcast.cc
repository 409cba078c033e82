// Numpy broadcast shapes for CUDA kernels.
#include "backends/cuda/elementwise/broadcast.h"

#include <algorithm>

namespace kiln::cuda {

bool broadcast_dims(const std::vector<Dims>& shapes, Dims* out) {
  size_t r = 0;
  for (const Dims& s : shapes) r = std::max(r, s.size());
  Dims o(r, 1);
  for (const Dims& s : shapes) {
    const size_t off = r - s.size();
    for (size_t j = 0; j < s.size(); ++j) {
      int64_t& d = o[off + j];
      if (s[j] == d) continue;
      if (d == 1) {
        d = s[j];
      } else if (s[j] != 1) {
        return false;
      }
    }
  }
  *out = std::move(o);
  return true;
}

}  // namespace kiln::cuda
