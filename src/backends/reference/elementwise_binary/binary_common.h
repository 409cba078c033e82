// Helpers shared by the elementwise_binary reference kernels: broadcasting loops, legacy broadcast, safe casts.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/reference/common.h"

namespace kiln {

// Allocates an output tensor, turning an oversized or invalid shape into an error instead of an abort.
Result<Tensor> allocate_output(const KernelContext& ctx, DType dtype, const Dims& dims);

// Numpy (multidirectional) broadcast of the given inputs' shapes; error naming the shapes if incompatible.
Status broadcast_all(const KernelContext& ctx, const std::vector<const Tensor*>& inputs, Dims* out);

// The second operand of a two-input op after the opset<7 `broadcast`/`axis` rule: with broadcast=1 and an
// `axis`, B's dims are aligned with A's starting at `axis` (trailing 1s are appended so numpy rules apply).
// Without those attributes (or opset>=7), B is returned unchanged.
Result<Tensor> legacy_broadcast_operand(const KernelContext& ctx, const Tensor& a, const Tensor& b);

// Requires inputs 0 and 1 to be tensors of the same dtype.
Status require_same_dtype(const KernelContext& ctx, size_t i, size_t j);

// out[k] = f(a[ia(k)], b[ib(k)]) over the broadcast shape of `out`. TA/TB/TO are storage types.
template <typename TA, typename TB, typename TO, typename F>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out, F&& f) {
  const std::vector<int64_t> ma = broadcast_index_map(a.dims(), out.dims());
  const std::vector<int64_t> mb = broadcast_index_map(b.dims(), out.dims());
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  for (int64_t k = 0; k < out.numel(); ++k) po[k] = f(pa[ma[k]], pb[mb[k]]);
}

// Integer arithmetic with two's-complement wrap-around (no signed-overflow UB).
template <typename T>
T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

// double -> integer T without UB: NaN gives 0, out-of-range values clamp to T's limits.
template <typename T>
T saturating_cast(double v) {
  if (std::isnan(v)) return T(0);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

}  // namespace kiln
