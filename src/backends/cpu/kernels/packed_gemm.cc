// Packed-B GEMM: a 6x16 register-blocked micro-kernel (12 accumulators of 8 floats, the AVX2 register budget) over
// panels packed once, compiled per ISA (KILN_CPU_CLONES). Written by hand because oneDNN 2.6's public sgemm packs
// B on every call, which is most of the cost of a per-time-step h.R^T at small batch.
#include "backends/cpu/kernels/packed_gemm.h"

#include <algorithm>
#include <cstring>

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
  parallel_range(std::max(threads, 1), b.panels(), [&](int64_t p0, int64_t p1) {
    gemm_panels(m, a, lda, b, p0, p1, c, ldc, accumulate);
  });
}

}  // namespace kiln::cpu::kern
