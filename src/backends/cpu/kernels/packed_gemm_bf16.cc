// The bf16 packed-B product (packed_gemm.h): vdpbf16ps over 16-column panels, one zmm of B per pair of k rows, each
// A pair broadcast. Written by hand for the same reason as the float32 one: the per-time-step h.R^T of an RNN at
// batch 1 is a GEMV whose cost is reading B, and oneDNN's matmul adds a fixed cost per call that is a large part of
// such a step.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/packed_gemm.h"
#include "core/float_formats.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define KILN_HAVE_BF16_GEMM 1
#endif

namespace kiln::cpu::kern {
namespace {

constexpr int64_t P = PackedBf16::kPanel;

#ifdef KILN_HAVE_BF16_GEMM
#pragma GCC diagnostic ignored "-Wpsabi"  // the helpers pass zmm values; they are inlined into one target function
#define KILN_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// One pair of k rows: acc += (a[2i], a[2i + 1]) . the panel's pair row i.
KILN_BF16 inline __m512 pair_dot(__m512 acc, const uint16_t* a, const uint16_t* panel, int64_t i) {
  uint32_t pair;
  std::memcpy(&pair, a + 2 * i, 4);
  const __m512i bv = _mm512_loadu_si512(panel + i * 2 * P);
  return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(static_cast<int>(pair)), (__m512bh)bv);
}

// One row of A against one panel: four interleaved partial sums hide the dot product's latency.
KILN_BF16 inline __m512 row_panel(const uint16_t* a, const uint16_t* panel, int64_t pairs) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t q = 0;
  for (; q + 4 <= pairs; q += 4) {
    acc0 = pair_dot(acc0, a, panel, q);
    acc1 = pair_dot(acc1, a, panel, q + 1);
    acc2 = pair_dot(acc2, a, panel, q + 2);
    acc3 = pair_dot(acc3, a, panel, q + 3);
  }
  for (; q < pairs; ++q) acc0 = pair_dot(acc0, a, panel, q);
  return _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
}

// Two panels at once where there are two: twice the independent loads and dot products in flight.
KILN_BF16 inline void row_two_panels(const uint16_t* a, const uint16_t* p0, const uint16_t* p1, int64_t pairs,
                                     __m512* out0, __m512* out1) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  int64_t q = 0;
  for (; q + 2 <= pairs; q += 2) {
    a0 = pair_dot(a0, a, p0, q);
    b0 = pair_dot(b0, a, p1, q);
    a1 = pair_dot(a1, a, p0, q + 1);
    b1 = pair_dot(b1, a, p1, q + 1);
  }
  for (; q < pairs; ++q) {
    a0 = pair_dot(a0, a, p0, q);
    b0 = pair_dot(b0, a, p1, q);
  }
  *out0 = _mm512_add_ps(a0, a1);
  *out1 = _mm512_add_ps(b0, b1);
}

KILN_BF16 void gemm_bf16(int64_t m, const uint16_t* a, int64_t lda, const PackedBf16& b, float* c, int64_t ldc) {
  const int64_t pairs = b.pairs(), stride = pairs * 2 * P;
  int64_t p = 0;
  for (; p + 2 <= b.panels(); p += 2) {
    const uint16_t* panel = b.data.data() + p * stride;
    const int64_t col = p * P, cols1 = std::min(P, b.n - col - P);
    const __mmask16 mask1 = static_cast<__mmask16>((1u << cols1) - 1);
    for (int64_t r = 0; r < m; ++r) {
      __m512 v0, v1;
      row_two_panels(a + r * lda, panel, panel + stride, pairs, &v0, &v1);
      _mm512_storeu_ps(c + r * ldc + col, v0);
      _mm512_mask_storeu_ps(c + r * ldc + col + P, mask1, v1);
    }
  }
  for (; p < b.panels(); ++p) {
    const uint16_t* panel = b.data.data() + p * stride;
    const int64_t col = p * P, cols = std::min(P, b.n - col);
    const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
    for (int64_t r = 0; r < m; ++r) _mm512_mask_storeu_ps(c + r * ldc + col, mask, row_panel(a + r * lda, panel, pairs));
  }
}
#endif

}  // namespace

void pack_b_bf16(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans, PackedBf16* out) {
  out->k = k;
  out->n = n;
  const int64_t pairs = out->pairs();
  out->data.assign(static_cast<size_t>(out->panels() * pairs * 2 * P), 0);
  for (int64_t p = 0; p < out->panels(); ++p) {
    uint16_t* panel = out->data.data() + p * pairs * 2 * P;
    const int64_t cols = std::min(P, n - p * P);
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t col = p * P + j;
        panel[(kk / 2) * 2 * P + 2 * j + kk % 2] = float_to_bf16(trans ? b[col * ldb + kk] : b[kk * ldb + col]);
      }
  }
}

bool packed_bf16_available() {
#ifdef KILN_HAVE_BF16_GEMM
  static const bool ok = __builtin_cpu_supports("avx512bf16");
  return ok;
#else
  return false;
#endif
}

void gemm_packed_bf16(int64_t m, const uint16_t* a, int64_t lda, const PackedBf16& b, float* c, int64_t ldc) {
#ifdef KILN_HAVE_BF16_GEMM
  if (m > 0 && b.n > 0) gemm_bf16(m, a, lda, b, c, ldc);
#else
  (void)m, (void)a, (void)lda, (void)b, (void)c, (void)ldc;
#endif
}

}  // namespace kiln::cpu::kern
