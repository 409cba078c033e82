// packed_gemm (the CPU backend's packed-B micro-kernel GEMM) vs a double-precision loop: row counts around the
// 6- and 8-row blocks (the AVX-512 kernels from 4 rows, in pairs of panels), partial 16-column panels, B given
// plain or transposed, overwrite and accumulate, 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/kernels/packed_gemm.h"

namespace kiln::cpu::kern {
namespace {

TEST(CpuPackedGemm, MatchesNaiveProduct) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t m : {1, 3, 4, 5, 6, 7, 8, 13, 19}) {
    for (int64_t n : {1, 16, 17, 33, 40, 64}) {
      for (int64_t k : {1, 3, 64}) {
        for (bool trans : {false, true}) {
          for (bool acc : {false, true}) {
            for (int threads : {1, 2}) {
              const int64_t lda = k + 2, ldb = (trans ? k : n) + 3, ldc = n + 1;
              std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>((trans ? n : k) * ldb)),
                  c(static_cast<size_t>(m * ldc));
              for (float& v : a) v = u(rng);
              for (float& v : b) v = u(rng);
              for (float& v : c) v = u(rng);
              const std::vector<float> c0 = c;
              PackedMatrix p;
              pack_b(b.data(), k, n, ldb, trans, &p);
              gemm_packed(m, a.data(), lda, p, c.data(), ldc, acc, threads);
              for (int64_t i = 0; i < m; ++i) {
                for (int64_t j = 0; j < ldc; ++j) {
                  const float got = c[i * ldc + j];
                  if (j >= n) {  // past the last column: untouched
                    ASSERT_EQ(got, c0[i * ldc + j]);
                    continue;
                  }
                  double want = acc ? c0[i * ldc + j] : 0.0;
                  for (int64_t kk = 0; kk < k; ++kk)
                    want += double(a[i * lda + kk]) * (trans ? b[j * ldb + kk] : b[kk * ldb + j]);
                  ASSERT_NEAR(got, want, 1e-5 + 1e-5 * std::fabs(want))
                      << "m" << m << " n" << n << " k" << k << " trans" << trans << " acc" << acc << " at " << i << "," << j;
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu::kern
