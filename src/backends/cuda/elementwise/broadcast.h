// Host-side broadcasting helpers shared by CUDA kernels: numpy broadcast shapes and the descriptor
// (collapsed output dims + per-input strides) that device code walks. Safe to include from .cc and .cu.
#pragma once
#include <cstdint>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::cuda {

constexpr int kMaxDims = 8;

// Output dims and, for each of K inputs, the element stride of every output dim in that input (0 where
// the input is broadcast). Dims of size 1 are dropped and mergeable neighbours are merged, so rank is
// often much smaller than the tensors' rank. Passed to kernels by value.
template <int K>
struct BroadcastDesc {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};
};

// Numpy broadcast of `shapes`; false when they are incompatible.
bool broadcast_dims(const std::vector<Dims>& shapes, Dims* out);

// Collapsed descriptor of K inputs (each broadcastable to out_dims) over out_dims; false when the
// collapsed rank exceeds kMaxDims.
template <int K>
bool make_broadcast(const Dims& out_dims, const std::vector<Dims>& in_dims, BroadcastDesc<K>* d) {
  const int r = static_cast<int>(out_dims.size());
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> st(K);
  std::vector<std::vector<int64_t>> full(K, std::vector<int64_t>(r, 0));
  for (int k = 0; k < K; ++k) {
    const Dims& in = in_dims[k];
    const int off = r - static_cast<int>(in.size());
    int64_t s = 1;
    for (int j = static_cast<int>(in.size()) - 1; j >= 0; --j) {
      full[k][off + j] = in[j] == 1 ? 0 : s;
      s *= in[j];
    }
  }
  for (int j = 0; j < r; ++j) {
    if (out_dims[j] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; k < K && merge; ++k) merge = st[k].back() == full[k][j] * out_dims[j];
    if (merge) {
      dims.back() *= out_dims[j];
      for (int k = 0; k < K; ++k) st[k].back() = full[k][j];
    } else {
      dims.push_back(out_dims[j]);
      for (int k = 0; k < K; ++k) st[k].push_back(full[k][j]);
    }
  }
  if (dims.size() > static_cast<size_t>(kMaxDims)) return false;
  *d = BroadcastDesc<K>{};
  d->rank = static_cast<int>(dims.size());
  for (size_t j = 0; j < dims.size(); ++j) {
    d->dims[j] = dims[j];
    for (int k = 0; k < K; ++k) d->strides[k][j] = st[k][j];
  }
  return true;
}

// Whether input k of `d` is read contiguously (same shape as the output).
template <int K>
bool is_contiguous_input(const BroadcastDesc<K>& d, int k) {
  int64_t s = 1;
  for (int j = d.rank - 1; j >= 0; --j) {
    if (d.strides[k][j] != s) return false;
    s *= d.dims[j];
  }
  return true;
}
// Whether input k of `d` is a single element broadcast everywhere.
template <int K>
bool is_scalar_input(const BroadcastDesc<K>& d, int k) {
  for (int j = 0; j < d.rank; ++j)
    if (d.strides[k][j] != 0) return false;
  return true;
}

}  // namespace kiln::cuda
