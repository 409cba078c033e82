// Host side of the int8 GEMM path shared by QLinearMatMul and QLinearConv: packed weights (once per context for
// constant weights), scratch layout, the fused int8 GEMM, the cuBLASLt int8 call and the requantization launch of the
// int32 path (qgemm.h for the algebra).
#pragma once
#include <cstdint>
#include <memory>

#include "backends/cuda/gemm/lt_plan.h"
#include "backends/cuda/quant/qgemm.h"

namespace kiln::cuda {

// cuBLASLt's int8 kernels want k and the leading dimensions in multiples of 4 elements; Kiln pads to 16 bytes.
constexpr int64_t kQ8Align = 16;
inline int64_t round_up_q8(int64_t v) { return (v + kQ8Align - 1) / kQ8Align * kQ8Align; }

// Weight rows for the GEMM: [n_pad][kp] int8 (output channel n's k values, shifted when the weight is uint8; zero
// padding), and the column sums of the real entries: owned here (cudaMalloc) or in a run's scratch (`owned`).
struct PackedQ8Weights {
  int64_t n = 0, k = 0, n_pad = 0, kp = 0;
  bool shifted = false;
  int8_t* rows = nullptr;
  int32_t* colsum = nullptr;
  bool owned = false;  // rows (and colsum) were cudaMalloc'ed here; otherwise they live in a run's scratch
  PackedQ8Weights() = default;
  PackedQ8Weights(const PackedQ8Weights&) = delete;
  PackedQ8Weights& operator=(const PackedQ8Weights&) = delete;
  ~PackedQ8Weights();
};

// One device allocation: per-channel requantization terms (RequantParams::term_scale, then term_offset), or tap sums.
struct RequantTerms {
  void* base = nullptr;
  RequantTerms() = default;
  RequantTerms(const RequantTerms&) = delete;
  RequantTerms& operator=(const RequantTerms&) = delete;
  ~RequantTerms();
};

// Per-(context, node) state: the packed constant weights, the requantization terms when every input they read is
// a constant, and the cuBLASLt plans.
struct QGemmState {
  std::unique_ptr<PackedQ8Weights> weights;
  std::unique_ptr<RequantTerms> terms;
  std::unique_ptr<RequantTerms> tap_sums;  // int32 [n_pad][kh * kw] of the constant weights (implicit im2col)
  LtPlanCache plans;
  int rowsum_needed = -1;  // whether the weights' zero points need the activations' row sums; -1: not asked yet
};
QGemmState& qgemm_state(CudaKernelContext& ctx);

// Packs `src` ([k][n] when `transposed`, a MatMul's B; else [n][k], a convolution's weights) into `out`'s shape,
// allocating device memory once (a constant weight: the state keeps it) or using `scratch` (bytes from
// packed_weight_bytes) when non-null.
Status pack_q8_weights(CudaKernelContext& ctx, Q8Source src, bool transposed, int64_t n, int64_t k, int64_t kp,
                       void* scratch, PackedQ8Weights* out);
size_t packed_weight_bytes(int64_t n, int64_t kp);

// Scratch of one run: the cuBLASLt workspace comes first (LtPlan::run asks ctx.workspace for it, which returns the
// same base), the caller's buffers after it. Returns the base of the caller's `bytes`.
Result<uint8_t*> q8_scratch(CudaKernelContext& ctx, size_t bytes);
inline size_t align256(size_t v) { return (v + 255) / 256 * 256; }

// acc[m][w.n_pad] = a[m][w.kp] * w.rows^T in int32 through cuBLASLt (its first heuristic algorithm).
Status run_q8_gemm(CudaKernelContext& ctx, QGemmState& state, const PackedQ8Weights& w, const int8_t* a, int64_t m,
                   int32_t* acc);

// Points rq->term_scale / term_offset at the per-channel terms of rq (every other field set): formed once into the
// state when the inputs they read (scales, zero points, weights, bias: inputs 1-8) are constants, else on every run
// into `scratch` (requant_terms_bytes(rq->n) bytes).
Status set_requant_terms(CudaKernelContext& ctx, QGemmState& state, uint8_t* scratch, RequantParams* rq);
size_t requant_terms_bytes(int64_t n);

// y = requantize(a w^T) in Kiln's fused int8 kernel (launch_q8_gemm_requant; rq: every field but acc/m set, the
// terms included, y at the first row's output): a is [m][lda] signed 8-bit rows of at least w.kp bytes, y row-major
// with stride ldy, or NCHW by rq.rows_per_image. False, with nothing launched, when the operands' alignment does
// not fit the kernel (the caller takes the int32 path: run_q8_gemm + launch_requantize).
Result<bool> run_q8_gemm_requant(CudaKernelContext& ctx, const PackedQ8Weights& w, const int8_t* a, int64_t lda,
                                 int64_t m, RequantParams rq, int64_t ldy, Q8Tile tile);
// y = requantize(implicit im2col of conv.x * w^T) (q8_mma.cu; conv: every field set, tap_sums from q8_tap_sums; rq as
// for run_q8_gemm_requant, row-major y). False, with nothing launched, when the operands do not fit.
Result<bool> run_q8_implicit_conv(CudaKernelContext& ctx, const PackedQ8Weights& w, const Q8ImplicitConv& conv,
                                  int64_t m, RequantParams rq, int64_t ldy, Q8Tile tile);
// The int32 per-(row, tap) sums of w's rows ([n_pad][taps], taps of c columns each) for the implicit im2col: formed
// once into the state for constant weights (scratch null), else every run into `scratch` (n_pad * taps int32).
Result<const int32_t*> q8_tap_sums(CudaKernelContext& ctx, QGemmState& state, const PackedQ8Weights& w, int64_t taps,
                                   int64_t c, uint8_t* scratch);

// The tactics of QLinearMatMul and group-1 QLinearConv, timed per node by the build's tuner: 0 the fused int8 GEMM
// (Q8Tile::kMedium), 1 the int32 path (cuBLASLt's first heuristic int8 algorithm, then launch_requantize), which
// splits k where the fused kernel's tiles would leave SMs idle (batch 1), 2 and 3 the fused GEMM with kLarge and
// kNarrow tiles; for channels-last convolutions over int8 inputs with c % 16 == 0 also 4, 5 and 6, the fused GEMM
// over an implicit im2col (no im2col buffer) with kMedium, kLarge and kNarrow tiles. KILN_CUDA_Q8_INT32=0..6 in the
// environment (read on every run) overrides the tactic (the GPU tests check each).
enum class Q8Path { kFused, kInt32, kImplicit };
struct Q8Tactic {
  Q8Path path = Q8Path::kFused;
  Q8Tile tile = Q8Tile::kMedium;
};
constexpr int kQ8RowTactics = 4, kQ8ConvTactics = 7;
Q8Tactic q8_tactic(const CudaKernelContext& ctx);
std::string q8_tactic_name(const Node& node, int64_t tactic);

// Shared input checks: scale input i is a float32 tensor with 1 (or `channels`, when per_channel) values; a zero
// point input is int8/uint8 with the same count.
Status check_q_scale(const CudaKernelContext& ctx, size_t i, const char* name, int64_t channels, bool per_channel);
Status check_q_zero_point(const CudaKernelContext& ctx, size_t i, const char* name, int64_t channels, bool per_channel);
// A zero-point input as the device sees it (absent: 0).
Result<QZeroPoint> q_zero_point(CudaKernelContext& ctx, size_t i);
// The quantization parameters QLinearMatMul and QLinearConv share by position (a/x scale 1 and zero point 2, b/w
// scale 4 and zero point 5, y scale 6 and zero point 7, int32 bias 8 when `has_bias`) into rq; y's dtype `yt`.
Status read_requant_inputs(CudaKernelContext& ctx, DType yt, bool has_bias, RequantParams* rq);

}  // namespace kiln::cuda
