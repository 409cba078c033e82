// Shared plumbing of the hand-written CPU kernels: build-time type queries, OpenMP work splitting (threads only
// for large tensors), multidirectional broadcasting plans and small tensor helpers.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

// Elements of work below which a kernel stays on the calling thread (thread start-up costs more than it saves).
constexpr int64_t kMinParallelWork = 32 * 1024;

// Build-time type of input/output i (nullptr when absent or not inferred as a tensor).
const TypeInfo* input_type(const Graph& g, const Node& n, size_t i);
const TypeInfo* output_type(const Graph& g, const Node& n, size_t i);
DType input_dtype(const Graph& g, const Node& n, size_t i);  // kUndefined when unknown
// Rank of input i, -1 when unknown.
int64_t input_rank(const Graph& g, const Node& n, size_t i);
// True when input i is an initializer of `g` (its value is known at build time).
const Tensor* input_constant(const Graph& g, const Node& n, size_t i);
// "input 1 is int8" style refusal unless every present input among `idx` has a dtype in `ok`.
NodeSupport require_dtypes(const Graph& g, const Node& n, const std::vector<size_t>& idx,
                           const std::vector<DType>& ok);

// float32 -> bf16 (round to nearest even), 16 values per instruction where the CPU has AVX512-BF16.
void floats_to_bf16(const float* x, uint16_t* y, int64_t n);

// A dtype of 1, 2, 4 or 8 bytes per element (what the byte-copying kernels move), not string or undefined.
bool fixed_size_dtype(DType d);
// Threads to use for `work` elements of roughly unit cost.
int threads_for(const CpuKernelContext& ctx, int64_t work);
// Calls f(begin, end) over [0, n) split into `threads` contiguous chunks, in parallel when threads > 1.
template <typename F>
void parallel_range(int threads, int64_t n, F&& f);

// A broadcast of k inputs to one output, with dims of size 1 dropped and adjacent dims merged where every input
// is contiguous across them. The last merged dim is the inner row; an input's inner stride is 0 or 1.
struct Bcast {
  Dims out;                                  // the output dims
  std::vector<int64_t> shape;                // merged dims; at least one entry (1 for a scalar output)
  std::vector<std::vector<int64_t>> stride;  // [input][merged dim] element strides (0: broadcast)
  int64_t rows() const;                      // product of shape[:-1]
  int64_t inner() const { return shape.back(); }
  // Element offset of each input at the start of row `r` (written to offs[0..k)).
  void row_offsets(int64_t r, int64_t* offs) const;
};
// False when the dims do not broadcast.
bool make_bcast(const std::vector<const Dims*>& ins, Bcast* b);
// Calls f(offs, out_offset, n): offs[i] is input i's element offset of the first of n consecutive output
// elements of one row (input i advances by b.stride[i].back() per element). Rows are split into pieces so
// `threads` threads share the work even when there are few rows.
template <typename F>
void for_each_row_piece(const Bcast& b, int threads, F&& f);

// Row-major strides of dims.
std::vector<int64_t> strides(const Dims& d);
// axis in [-rank, rank) -> [0, rank); false when out of range.
bool norm_axis(int64_t axis, int64_t rank, int64_t* out);
// An integer tensor (int32/int64) read as int64 values.
std::vector<int64_t> read_ints(const Tensor& t);

// oneDNN's sgemm uses omp_get_max_threads() threads when called outside a parallel region: kernels that call it
// set the count they want, and a GemmThreadsGuard restores the context's count however the kernel returns.
void set_gemm_threads(int n);
struct GemmThreadsGuard {
  int n;
  ~GemmThreadsGuard() { set_gemm_threads(n); }
};

// ---- template definitions ----
}  // namespace kiln::cpu::kern

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiln::cpu::kern {

template <typename F>
void parallel_range(int threads, int64_t n, F&& f) {
  if (n <= 0) return;
  if (threads > n) threads = static_cast<int>(n);
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t b = n * t / T, e = n * (t + 1) / T;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(int64_t{0}, n);
}

template <typename F>
void for_each_row_piece(const Bcast& b, int threads, F&& f) {
  const int64_t rows = b.rows(), inner = b.inner();
  if (rows == 0 || inner == 0) return;
  int64_t pieces = 1;  // pieces per row
  if (threads > 1 && rows < 4 * threads) pieces = std::max<int64_t>(1, std::min<int64_t>(4 * threads / rows, inner / 1024));
  const int64_t per = (inner + pieces - 1) / pieces;
  const size_t k = b.stride.size();
  parallel_range(threads, rows * pieces, [&](int64_t begin, int64_t end) {
    int64_t small[16];  // offsets of up to 8 inputs without touching the heap
    std::vector<int64_t> big(k > 8 ? 2 * k : 0);
    int64_t* offs = k > 8 ? big.data() : small;
    int64_t* o = offs + k;
    for (int64_t it = begin; it < end; ++it) {
      const int64_t r = it / pieces, p = it % pieces;
      const int64_t s = p * per, n = std::min(inner, s + per) - s;
      if (n <= 0) continue;
      b.row_offsets(r, offs);
      for (size_t i = 0; i < k; ++i) o[i] = offs[i] + s * b.stride[i].back();
      f(static_cast<const int64_t*>(o), r * inner + s, n);
    }
  });
}

}  // namespace kiln::cpu::kern
