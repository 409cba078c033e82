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

// B as bf16 for AVX512-BF16's pair dot product (vdpbf16ps): panels of 16 columns, each ceil(k / 2) rows of the 16
// column pairs (B[2i][j], B[2i + 1][j]) (a zero row pads an odd k). Half the bytes of PackedMatrix: a small-batch
// product reading B from cache runs at up to twice the speed.
struct PackedBf16 {
  static constexpr int64_t kPanel = 16;
  int64_t k = 0, n = 0;
  std::vector<uint16_t> data;  // [ceil(n / kPanel)][ceil(k / 2)][kPanel][2]
  int64_t panels() const { return (n + kPanel - 1) / kPanel; }
  int64_t pairs() const { return (k + 1) / 2; }
};

// Packs B like pack_b, rounded to bf16 (nearest even).
void pack_b_bf16(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans, PackedBf16* out);

// Whether gemm_packed_bf16 can run on this CPU (AVX512-BF16).
bool packed_bf16_available();

// C = A.B on the calling thread, float32 accumulation; A is m rows of bf16 with row stride lda >= 2 * b.pairs(), its
// values past k zero (the pad pairs with B's zero row). Requires packed_bf16_available().
void gemm_packed_bf16(int64_t m, const uint16_t* a, int64_t lda, const PackedBf16& b, float* c, int64_t ldc);

}  // namespace kiln::cpu::kern
