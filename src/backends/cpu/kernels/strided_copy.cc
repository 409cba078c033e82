// The strided copy engine (see strided_copy.h).
#include "backends/cpu/kernels/strided_copy.h"

#include <cstring>

#include "backends/cpu/kernels/common.h"

namespace kiln::cpu::kern {
namespace {

constexpr int64_t kTile = 16;

// Visits items [begin, end) of the odometer over dims `d` (row-major), passing each item's source offset.
template <typename F>
void walk(const std::vector<int64_t>& d, const std::vector<int64_t>& s, int64_t base, int64_t begin, int64_t end,
          F&& f) {
  const size_t r = d.size();
  std::vector<int64_t> idx(r, 0);
  int64_t off = base, rem = begin;
  for (size_t k = r; k-- > 0;) {
    idx[k] = rem % d[k];
    rem /= d[k];
    off += idx[k] * s[k];
  }
  for (int64_t it = begin; it < end; ++it) {
    f(it, off);
    for (size_t k = r; k-- > 0;) {
      off += s[k];
      if (++idx[k] < d[k]) break;
      off -= s[k] * d[k];
      idx[k] = 0;
    }
  }
}

template <typename T>
void copy_typed(const T* src, int64_t base, const std::vector<int64_t>& D, const std::vector<int64_t>& S, T* dst,
                int threads) {
  const size_t r = D.size();
  if (r == 0) {
    dst[0] = src[base];
    return;
  }
  const int64_t L = D.back(), sl = S.back();
  // A dim whose source stride is 1 (other than the last): a transpose, run in tiles.
  size_t k = r;
  if (sl != 1)
    for (size_t j = 0; j + 1 < r; ++j)
      if (S[j] == 1) k = j;
  if (k == r) {  // rows: memcpy when contiguous, else a strided gather
    const std::vector<int64_t> od(D.begin(), D.end() - 1), os(S.begin(), S.end() - 1);
    int64_t rows = 1;
    for (int64_t v : od) rows *= v;
    const int t = static_cast<int>(std::min<int64_t>(threads, rows * L / kMinParallelWork));
    parallel_range(std::max(1, t), rows, [&](int64_t b, int64_t e) {
      walk(od, os, base, b, e, [&](int64_t row, int64_t off) {
        T* out = dst + row * L;
        const T* in = src + off;
        if (sl == 1) {
          std::memcpy(out, in, static_cast<size_t>(L) * sizeof(T));
        } else if (sl == 0) {
          for (int64_t i = 0; i < L; ++i) out[i] = in[0];
        } else {
          for (int64_t i = 0; i < L; ++i) out[i] = in[i * sl];
        }
      });
    });
    return;
  }
  // Tiled transpose between dim k (source-contiguous) and the last dim (destination-contiguous).
  std::vector<int64_t> ostr(r, 1);
  for (size_t j = r - 1; j-- > 0;) ostr[j] = ostr[j + 1] * D[j + 1];
  std::vector<int64_t> od, os, odst;
  for (size_t j = 0; j + 1 < r; ++j)
    if (j != k) {
      od.push_back(D[j]);
      os.push_back(S[j]);
      odst.push_back(ostr[j]);
    }
  int64_t outer = 1;
  for (int64_t v : od) outer *= v;
  const int64_t K = D[k], ok = ostr[k], a_tiles = (K + kTile - 1) / kTile;
  const int t = static_cast<int>(std::min<int64_t>(threads, outer * K * L / kMinParallelWork));
  parallel_range(std::max(1, t), outer * a_tiles, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t o = it / a_tiles, a0 = (it % a_tiles) * kTile, a1 = std::min(K, a0 + kTile);
      int64_t so = base, dof = 0, rem = o;
      for (size_t j = od.size(); j-- > 0;) {
        const int64_t i = rem % od[j];
        rem /= od[j];
        so += i * os[j];
        dof += i * odst[j];
      }
      for (int64_t b0 = 0; b0 < L; b0 += kTile) {
        const int64_t b1 = std::min(L, b0 + kTile);
        for (int64_t a = a0; a < a1; ++a) {
          T* out = dst + dof + a * ok;
          const T* in = src + so + a;
          for (int64_t bb = b0; bb < b1; ++bb) out[bb] = in[bb * sl];
        }
      }
    }
  });
}

}  // namespace

void strided_copy(const void* src, int64_t base, const std::vector<int64_t>& strides, void* dst, const Dims& dims,
                  size_t elem, int threads) {
  std::vector<int64_t> D, S;
  for (size_t j = 0; j < dims.size(); ++j) {
    if (dims[j] == 0) return;
    if (dims[j] == 1) continue;
    if (!D.empty() && S.back() == strides[j] * dims[j]) {
      D.back() *= dims[j];
      S.back() = strides[j];
    } else {
      D.push_back(dims[j]);
      S.push_back(strides[j]);
    }
  }
  switch (elem) {
    case 1: return copy_typed(static_cast<const uint8_t*>(src), base, D, S, static_cast<uint8_t*>(dst), threads);
    case 2: return copy_typed(static_cast<const uint16_t*>(src), base, D, S, static_cast<uint16_t*>(dst), threads);
    case 4: return copy_typed(static_cast<const uint32_t*>(src), base, D, S, static_cast<uint32_t*>(dst), threads);
    default: return copy_typed(static_cast<const uint64_t*>(src), base, D, S, static_cast<uint64_t*>(dst), threads);
  }
}

}  // namespace kiln::cpu::kern
