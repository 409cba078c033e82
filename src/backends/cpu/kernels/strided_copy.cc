// The strided copy engine (see strided_copy.h).
#include "backends/cpu/kernels/strided_copy.h"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backends/cpu/kernels/common.h"

namespace kiln::cpu::kern {
namespace {

constexpr int64_t kTile = 16;

#if defined(__x86_64__) && defined(__GNUC__)
#define KILN_TRANSPOSE_AVX2 1
// out row i (8 contiguous elements, rows out_stride apart) = column i of the 8x8 block whose row r is the 8
// contiguous elements at in + r * in_stride. Moves bits only (no arithmetic): any 4-byte type.
__attribute__((target("avx2"))) void transpose_8x8_4byte(const uint32_t* in, int64_t in_stride, uint32_t* out,
                                                        int64_t out_stride) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(in + i * in_stride));
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(reinterpret_cast<float*>(out + i * out_stride), _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(reinterpret_cast<float*>(out + (i + 4) * out_stride), _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

// One tile of the transpose: out[a * ok + bb] = in[a + bb * sl] for a in [a0, a1), bb in [b0, b1).
template <typename T>
void transpose_tile(const T* in, int64_t sl, T* out, int64_t ok, int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
  int64_t a = a0;
#ifdef KILN_TRANSPOSE_AVX2
  if constexpr (sizeof(T) == 4) {
    if (have_avx2()) {
      for (; a + 8 <= a1; a += 8) {
        int64_t bb = b0;
        for (; bb + 8 <= b1; bb += 8)
          transpose_8x8_4byte(reinterpret_cast<const uint32_t*>(in + a + bb * sl), sl,
                              reinterpret_cast<uint32_t*>(out + a * ok + bb), ok);
        for (int64_t ai = a; ai < a + 8; ++ai)
          for (int64_t x = bb; x < b1; ++x) out[ai * ok + x] = in[ai + x * sl];
      }
    }
  }
#endif
  for (; a < a1; ++a) {
    T* o = out + a * ok;
    const T* i = in + a;
    for (int64_t bb = b0; bb < b1; ++bb) o[bb] = i[bb * sl];
  }
}

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
      for (int64_t b0 = 0; b0 < L; b0 += kTile)
        transpose_tile(src + so, sl, dst + dof, ok, a0, a1, b0, std::min(L, b0 + kTile));
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
