// C[M,N] (+)= A[M,K] . B[K,N] for a B packed once into 16-column panels: the small-M products whose B stays the
// same across calls (an RNN's recurrent weights at every time step), where a general sgemm repacks B each call.
#pragma once
#include <cstdint>
#include <vector>

namespace kiln::cpu::kern {

// B in panels of kPanel columns, each panel K rows of kPanel floats (the last panel zero-padded).
struct PackedMatrix {
  static constexpr int64_t kPanel = 16;
  int64_t k = 0, n = 0;
  std::vector<float> data;  // [ceil(n / kPanel)][k][kPanel]
  int64_t panels() const { return (n + kPanel - 1) / kPanel; }
};

// Packs columns [col0, col0 + n) of B into `out`: element (kk, j) of B is b[kk * ldb + j], or b[j * ldb + kk] when
// `trans` (B given as B^T, e.g. ONNX RNN weights [gates*hidden, hidden]).
void pack_b(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans, PackedMatrix* out);

// C = A.B (or C += A.B when `accumulate`) for the m rows of A (row stride lda) and C (row stride ldc), on up to
// `threads` threads (split over column panels).
void gemm_packed(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, bool accumulate,
                 int threads);

}  // namespace kiln::cpu::kern
