// packed_gemm (the CPU backend's packed-B micro-kernel GEMM) vs a double-precision loop: row counts around the
// 6- and 8-row blocks (the AVX-512 kernels from 4 rows, in pairs of panels), partial 16-column panels, B given
// plain or transposed, overwrite and accumulate, 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/kernels/packed_gemm.h"
#include "core/float_formats.h"

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

// The bf16 variant against the same product of the bf16-rounded operands in double: odd k (the zero pad pair),
// partial panels, B plain or transposed, rows past the last column untouched. Rounding the operands is the only
// error allowed (float32 accumulation).
TEST(CpuPackedGemm, Bf16MatchesProductOfRoundedOperands) {
  if (!packed_bf16_available()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto round = [](float v) { return bf16_to_float(float_to_bf16(v)); };
  for (int64_t m : {1, 2, 5}) {
    for (int64_t n : {1, 16, 17, 48, 50}) {
      for (int64_t k : {1, 2, 7, 9, 256}) {
        for (bool trans : {false, true}) {
          const int64_t pairs = (k + 1) / 2, lda = 2 * pairs + 4, ldb = (trans ? k : n) + 3, ldc = n + 1;
          std::vector<uint16_t> a(static_cast<size_t>(m * lda), 0);
          std::vector<float> b(static_cast<size_t>((trans ? n : k) * ldb)), c(static_cast<size_t>(m * ldc), 7.f);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t kk = 0; kk < k; ++kk) a[i * lda + kk] = float_to_bf16(u(rng));
          for (float& v : b) v = u(rng);
          PackedBf16 p;
          pack_b_bf16(b.data(), k, n, ldb, trans, &p);
          gemm_packed_bf16(m, a.data(), lda, p, c.data(), ldc);
          for (int64_t i = 0; i < m; ++i) {
            ASSERT_EQ(c[i * ldc + n], 7.f) << "m" << m << " n" << n << " k" << k << ": wrote past the last column";
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t kk = 0; kk < k; ++kk)
                want += double(bf16_to_float(a[i * lda + kk])) * round(trans ? b[j * ldb + kk] : b[kk * ldb + j]);
              ASSERT_NEAR(c[i * ldc + j], want, 1e-5 * (1 + std::sqrt(double(k))))
                  << "m" << m << " n" << n << " k" << k << " trans" << trans << " at " << i << "," << j;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu::kern
