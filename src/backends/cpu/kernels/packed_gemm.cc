// Packed-B GEMM: a 6x16 register-blocked micro-kernel (12 accumulators of 8 floats, the AVX2 register budget) over
// panels packed once, compiled per ISA (KILN_CPU_CLONES); on AVX-512 CPUs an 8x16 kernel of 16-float vectors (one
// zmm per row of a panel), chosen at run time. Written by hand because oneDNN 2.6's public sgemm packs B on every
// call, which is most of the cost of a per-time-step h.R^T at small batch.
#include "backends/cpu/kernels/packed_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/vec_math.h"

namespace kiln::cpu::kern {
namespace {

// The inline helpers pass 32-byte vectors by value; they are always inlined into the per-ISA clones.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8 __attribute__((vector_size(32), aligned(4)));  // unaligned loads and stores are fine
constexpr int64_t P = PackedMatrix::kPanel;

KILN_VINLINE v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
KILN_VINLINE void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

// Rows [0, MR) of A times one panel into C's `cols` (<= 16) columns. Each accumulator is a chain of dependent FMAs
// over k: with few rows there are too few chains to hide the FMA latency (batch 1: 2 chains, an RNN step's
// 1x256 . 256x1024 ran at a quarter of the FMA rate), so small MR splits k into KU interleaved partial sums.
template <int MR>
KILN_VINLINE void micro(int64_t k, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc, int64_t cols,
                        bool accumulate) {
  constexpr int KU = MR == 1 ? 4 : MR == 2 ? 2 : 1;
  v8 lo[KU][MR], hi[KU][MR];
  for (int u = 0; u < KU; ++u)
    for (int r = 0; r < MR; ++r) lo[u][r] = hi[u][r] = v8{};
  int64_t kk = 0;
  for (; kk + KU <= k; kk += KU)
    for (int u = 0; u < KU; ++u) {
      const v8 b0 = load8(panel + (kk + u) * P), b1 = load8(panel + (kk + u) * P + 8);
      for (int r = 0; r < MR; ++r) {
        const float av = a[r * lda + kk + u];
        lo[u][r] += av * b0;
        hi[u][r] += av * b1;
      }
    }
  for (; kk < k; ++kk) {
    const v8 b0 = load8(panel + kk * P), b1 = load8(panel + kk * P + 8);
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * lda + kk];
      lo[0][r] += av * b0;
      hi[0][r] += av * b1;
    }
  }
  for (int u = 1; u < KU; ++u)
    for (int r = 0; r < MR; ++r) {
      lo[0][r] += lo[u][r];
      hi[0][r] += hi[u][r];
    }
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (cols == P) {
      if (accumulate) {
        lo[0][r] += load8(cr);
        hi[0][r] += load8(cr + 8);
      }
      store8(cr, lo[0][r]);
      store8(cr + 8, hi[0][r]);
    } else {
      float t[P];
      store8(t, lo[0][r]);
      store8(t + 8, hi[0][r]);
      for (int64_t j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + t[j] : t[j];
    }
  }
}

KILN_CPU_CLONES void gemm_panels(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, int64_t p0, int64_t p1,
                                 float* c, int64_t ldc, bool accumulate) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = b.data.data() + p * b.k * P;
    const int64_t col = p * P, cols = std::min(P, b.n - col);
    int64_t r = 0;
    for (; r + 6 <= m; r += 6) micro<6>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate);
    switch (m - r) {
      case 5: micro<5>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate); break;
      case 4: micro<4>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate); break;
      case 3: micro<3>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate); break;
      case 2: micro<2>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate); break;
      case 1: micro<1>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate); break;
      default: break;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KILN_HAVE_WIDE_GEMM 1
// The AVX-512 kernels: a panel row is one 16-float vector, so MR rows keep MR accumulators; 8 rows (8 independent
// FMA chains, the FMA latency times its two ports) fill the pipeline, fewer rows split k into KU partial sums.
typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define KILN_WIDE __attribute__((target("arch=x86-64-v4")))

KILN_WIDE KILN_VINLINE v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <int MR>
KILN_WIDE KILN_VINLINE void micro_wide(int64_t k, const float* a, int64_t lda, const float* panel, float* c,
                                       int64_t ldc, int64_t cols, bool accumulate) {
  constexpr int KU = MR >= 8 ? 1 : MR >= 4 ? 2 : 4;
  v16 acc[KU][MR];
  for (int u = 0; u < KU; ++u)
    for (int r = 0; r < MR; ++r) acc[u][r] = v16{};
  int64_t kk = 0;
  for (; kk + KU <= k; kk += KU)
    for (int u = 0; u < KU; ++u) {
      const v16 bv = load16(panel + (kk + u) * P);
      for (int r = 0; r < MR; ++r) acc[u][r] += a[r * lda + kk + u] * bv;
    }
  for (; kk < k; ++kk) {
    const v16 bv = load16(panel + kk * P);
    for (int r = 0; r < MR; ++r) acc[0][r] += a[r * lda + kk] * bv;
  }
  for (int u = 1; u < KU; ++u)
    for (int r = 0; r < MR; ++r) acc[0][r] += acc[u][r];
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    float t[P];
    std::memcpy(t, &acc[0][r], sizeof t);
    if (cols == P && !accumulate) {
      std::memcpy(cr, t, sizeof t);
    } else {
      for (int64_t j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + t[j] : t[j];
    }
  }
}

// Two adjacent panels at once (32 columns): each A value loaded serves two FMAs, so the loads (one broadcast per row
// and k) no longer outnumber what the two FMA ports can take.
template <int MR>
KILN_WIDE KILN_VINLINE void micro_wide2(int64_t k, const float* a, int64_t lda, const float* p0, const float* p1,
                                        float* c, int64_t ldc, int64_t cols1, bool accumulate) {
  constexpr int KU = MR >= 4 ? 1 : MR >= 2 ? 2 : 4;
  v16 acc0[KU][MR], acc1[KU][MR];
  for (int u = 0; u < KU; ++u)
    for (int r = 0; r < MR; ++r) acc0[u][r] = acc1[u][r] = v16{};
  int64_t kk = 0;
  for (; kk + KU <= k; kk += KU)
    for (int u = 0; u < KU; ++u) {
      const v16 b0 = load16(p0 + (kk + u) * P), b1 = load16(p1 + (kk + u) * P);
      for (int r = 0; r < MR; ++r) {
        const float av = a[r * lda + kk + u];
        acc0[u][r] += av * b0;
        acc1[u][r] += av * b1;
      }
    }
  for (; kk < k; ++kk) {
    const v16 b0 = load16(p0 + kk * P), b1 = load16(p1 + kk * P);
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * lda + kk];
      acc0[0][r] += av * b0;
      acc1[0][r] += av * b1;
    }
  }
  for (int u = 1; u < KU; ++u)
    for (int r = 0; r < MR; ++r) {
      acc0[0][r] += acc0[u][r];
      acc1[0][r] += acc1[u][r];
    }
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    float t[2 * P];
    std::memcpy(t, &acc0[0][r], sizeof(v16));
    std::memcpy(t + P, &acc1[0][r], sizeof(v16));
    const int64_t cols = P + cols1;
    for (int64_t j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + t[j] : t[j];
  }
}

KILN_WIDE void gemm_panels_wide(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, int64_t p0, int64_t p1,
                                float* c, int64_t ldc, bool accumulate) {
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    const float* q0 = b.data.data() + p * b.k * P;
    const float* q1 = q0 + b.k * P;
    const int64_t col = p * P, cols1 = std::min(P, b.n - col - P);
    int64_t r = 0;
    for (; r + 8 <= m; r += 8) micro_wide2<8>(b.k, a + r * lda, lda, q0, q1, c + r * ldc + col, ldc, cols1, accumulate);
    float* cr = c + r * ldc + col;
    const float* ar = a + r * lda;
    switch (m - r) {
      case 7: micro_wide2<7>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 6: micro_wide2<6>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 5: micro_wide2<5>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 4: micro_wide2<4>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 3: micro_wide2<3>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 2: micro_wide2<2>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      case 1: micro_wide2<1>(b.k, ar, lda, q0, q1, cr, ldc, cols1, accumulate); break;
      default: break;
    }
  }
  for (; p < p1; ++p) {
    const float* panel = b.data.data() + p * b.k * P;
    const int64_t col = p * P, cols = std::min(P, b.n - col);
    int64_t r = 0;
    for (; r + 8 <= m; r += 8) micro_wide<8>(b.k, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols, accumulate);
    float* cr = c + r * ldc + col;
    const float* ar = a + r * lda;
    switch (m - r) {
      case 7: micro_wide<7>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 6: micro_wide<6>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 5: micro_wide<5>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 4: micro_wide<4>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 3: micro_wide<3>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 2: micro_wide<2>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      case 1: micro_wide<1>(b.k, ar, lda, panel, cr, ldc, cols, accumulate); break;
      default: break;
    }
  }
}

// KILN_CPU_GEMM_WIDE=0 keeps the AVX2-width kernels on AVX-512 CPUs (A/B measurements).
bool use_wide() {
  static const bool wide = [] {
    const char* e = std::getenv("KILN_CPU_GEMM_WIDE");
    return __builtin_cpu_supports("avx512f") && !(e && std::string(e) == "0");
  }();
  return wide;
}
#endif

}  // namespace

void pack_b(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans, PackedMatrix* out) {
  out->k = k;
  out->n = n;
  out->data.assign(static_cast<size_t>(out->panels() * k * P), 0.f);
  for (int64_t p = 0; p < out->panels(); ++p) {
    float* panel = out->data.data() + p * k * P;
    const int64_t cols = std::min(P, n - p * P);
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t col = p * P + j;
        panel[kk * P + j] = trans ? b[col * ldb + kk] : b[kk * ldb + col];
      }
  }
}

void gemm_packed(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, bool accumulate,
                 int threads) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k == 0) {
    if (!accumulate)
      for (int64_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + b.n, 0.f);
    return;
  }
#ifdef KILN_HAVE_WIDE_GEMM
  // (At 1-3 rows the product is a GEMV bound by reading B, where the 16-float kernels measured no faster.)
  if (m >= 4 && use_wide()) {
    parallel_range(std::max(threads, 1), b.panels(), [&](int64_t p0, int64_t p1) {
      gemm_panels_wide(m, a, lda, b, p0, p1, c, ldc, accumulate);
    });
    return;
  }
#endif
  parallel_range(std::max(threads, 1), b.panels(), [&](int64_t p0, int64_t p1) {
    gemm_panels(m, a, lda, b, p0, p1, c, ldc, accumulate);
  });
}

}  // namespace kiln::cpu::kern
