// Host side of the int8 GEMM path: weight packing, scratch, the cuBLASLt int8 GEMM and shared input checks.
#include "backends/cuda/quant/qgemm_host.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/elementwise/host_util.h"

namespace kiln::cuda {

PackedQ8Weights::~PackedQ8Weights() {
  if (owned && rows) cudaFree(rows);  // colsum lives in the same allocation
}

RequantTerms::~RequantTerms() {
  if (base) cudaFree(base);
}

size_t requant_terms_bytes(int64_t n) {
  return align256(static_cast<size_t>(n) * sizeof(double)) + align256(static_cast<size_t>(n) * sizeof(int64_t));
}

namespace {

// Where per-channel terms of `bytes` go: once into `kept` (allocated on first use) when inputs 1-8 are constants, so
// *fill is true only the first time; else into this run's `scratch`, filled every run.
Result<uint8_t*> terms_buffer(CudaKernelContext& ctx, std::unique_ptr<RequantTerms>& kept, uint8_t* scratch,
                              size_t bytes, bool* fill) {
  bool constant = true;
  for (size_t i = 1; i <= 8; ++i) constant &= !ctx.has_input(i) || ctx.input_is_constant(i);
  *fill = !constant || !kept;
  if (!constant) return scratch;
  if (!kept) {
    void* raw = nullptr;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&raw, bytes));
    kept = std::make_unique<RequantTerms>();
    kept->base = raw;
  }
  return static_cast<uint8_t*>(kept->base);
}

// The int8 GEMM in cuBLASLt's column-major terms: D[d_rows x m] = rows^T (op T of the [kp x n_pad] column-major
// view of w) * a (the [kp x m] view): the "TN" form its int8 kernels take. D column-major with leading dimension ldd
// is d[m][ldd] row-major (int32 accumulators).
LtProblem q8_problem(const PackedQ8Weights& w, const int8_t* a, int64_t m, int64_t d_rows, const void* d, int64_t ldd) {
  LtProblem p;
  p.int8 = true;
  p.trans_a = true;
  p.trans_b = false;
  p.m = d_rows;
  p.n = m;
  p.k = w.kp;
  p.lda = w.kp;
  p.ldb = w.kp;
  p.ldc = ldd;
  p.align_a = alignment_of({reinterpret_cast<uint64_t>(w.rows)});
  p.align_b = alignment_of({reinterpret_cast<uint64_t>(a)});
  p.align_c = p.align_d = alignment_of({reinterpret_cast<uint64_t>(d)});
  return p;
}

}  // namespace

Status set_requant_terms(CudaKernelContext& ctx, QGemmState& state, uint8_t* scratch, RequantParams* rq) {
  bool fill = false;
  KILN_ASSIGN_OR_RETURN(uint8_t * base, terms_buffer(ctx, state.terms, scratch, requant_terms_bytes(rq->n), &fill));
  double* scale = reinterpret_cast<double*>(base);
  int64_t* offset = reinterpret_cast<int64_t*>(base + align256(static_cast<size_t>(rq->n) * sizeof(double)));
  if (fill)
    KILN_RETURN_IF_ERROR(
        launch_status(ctx, launch_requant_terms(*rq, scale, offset, ctx.stream()), "requantization terms"));
  rq->term_scale = scale;
  rq->term_offset = offset;
  return ok_status();
}

namespace {

// The fused GEMM over w's packed rows, m output rows of stride ldy; A comes from `a` (explicit rows) or `conv`.
Result<bool> run_fused(CudaKernelContext& ctx, const PackedQ8Weights& w, const int8_t* a, int64_t lda,
                       const Q8ImplicitConv& conv, int64_t m, RequantParams rq, int64_t ldy, Q8Tile tile) {
  Q8GemmOperands g;
  g.a = a;
  g.lda = lda;
  g.w = w.rows;
  g.ldw = w.kp;
  g.m = m;
  g.n_rows = w.n_pad;
  g.kp = w.kp;
  g.ldy = ldy;
  g.conv = conv;
  if (!q8_gemm_requant_fits(g)) return false;  // checks the implicit im2col's operands when conv.x is set
  rq.m = m;
  KILN_RETURN_IF_ERROR(launch_status(ctx, launch_q8_gemm_requant(g, rq, tile, ctx.stream()), "int8 GEMM"));
  return true;
}

}  // namespace

Result<bool> run_q8_gemm_requant(CudaKernelContext& ctx, const PackedQ8Weights& w, const int8_t* a, int64_t lda,
                                 int64_t m, RequantParams rq, int64_t ldy, Q8Tile tile) {
  return run_fused(ctx, w, a, lda, Q8ImplicitConv{}, m, rq, ldy, tile);
}

Result<bool> run_q8_implicit_conv(CudaKernelContext& ctx, const PackedQ8Weights& w, const Q8ImplicitConv& conv,
                                  int64_t m, RequantParams rq, int64_t ldy, Q8Tile tile) {
  if (!conv.x) return false;
  return run_fused(ctx, w, nullptr, 0, conv, m, rq, ldy, tile);
}

Result<const int32_t*> q8_tap_sums(CudaKernelContext& ctx, QGemmState& state, const PackedQ8Weights& w, int64_t taps,
                                   int64_t c, uint8_t* scratch) {
  int32_t* sums = reinterpret_cast<int32_t*>(scratch);
  if (!scratch) {
    if (state.tap_sums) return static_cast<const int32_t*>(state.tap_sums->base);
    void* raw = nullptr;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&raw, static_cast<size_t>(w.n_pad * taps) * sizeof(int32_t)));
    state.tap_sums = std::make_unique<RequantTerms>();
    state.tap_sums->base = raw;
    sums = static_cast<int32_t*>(raw);
  }
  KILN_RETURN_IF_ERROR(
      launch_status(ctx, launch_tap_sums_s8(w.rows, w.n_pad, taps, c, w.kp, sums, ctx.stream()), "int8 tap sums"));
  return static_cast<const int32_t*>(sums);
}

Q8Tactic q8_tactic(const CudaKernelContext& ctx) {
  const char* v = std::getenv("KILN_CUDA_Q8_INT32");
  const bool forced = v && v[0] >= '0' && v[0] < '0' + kQ8ConvTactics && v[1] == '\0';
  const int64_t t = forced ? v[0] - '0' : ctx.tactic();
  Q8Tactic r;
  r.path = t == 1 ? Q8Path::kInt32 : t >= 4 ? Q8Path::kImplicit : Q8Path::kFused;
  r.tile = t == 2 || t == 5 ? Q8Tile::kLarge : t == 3 || t == 6 ? Q8Tile::kNarrow : Q8Tile::kMedium;
  return r;
}

std::string q8_tactic_name(const Node&, int64_t tactic) {
  switch (tactic) {
    case 1:
      return "cuBLASLt int8 GEMM + requantize";
    case 2:
      return "fused int8 GEMM 256x128";
    case 3:
      return "fused int8 GEMM 128x64";
    case 4:
      return "fused int8 GEMM, implicit im2col";
    case 5:
      return "fused int8 GEMM 256x128, implicit im2col";
    case 6:
      return "fused int8 GEMM 128x64, implicit im2col";
    default:
      return "fused int8 GEMM";
  }
}

QGemmState& qgemm_state(CudaKernelContext& ctx) {
  std::shared_ptr<void>& state = ctx.node_state();
  if (!state) state = std::make_shared<QGemmState>();
  return *static_cast<QGemmState*>(state.get());
}

size_t packed_weight_bytes(int64_t n, int64_t kp) {
  const int64_t n_pad = round_up_q8(n);
  return align256(static_cast<size_t>(n_pad * kp)) + align256(static_cast<size_t>(n_pad) * sizeof(int32_t));
}

Status pack_q8_weights(CudaKernelContext& ctx, Q8Source src, bool transposed, int64_t n, int64_t k, int64_t kp,
                       void* scratch, PackedQ8Weights* out) {
  out->n = n;
  out->k = k;
  out->n_pad = round_up_q8(n);
  out->kp = kp;
  out->shifted = src.is_u8;
  uint8_t* base = static_cast<uint8_t*>(scratch);
  if (!base) {
    void* raw = nullptr;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&raw, packed_weight_bytes(n, kp)));
    base = static_cast<uint8_t*>(raw);
    out->rows = reinterpret_cast<int8_t*>(base);
    out->owned = true;
  } else {
    out->rows = reinterpret_cast<int8_t*>(base);
  }
  out->colsum = reinterpret_cast<int32_t*>(base + align256(static_cast<size_t>(out->n_pad * kp)));
  KILN_RETURN_IF_ERROR(launch_status(
      ctx, launch_pack_rows_s8(src, transposed, n, k, out->n_pad, kp, out->rows, ctx.stream()), "int8 weight packing"));
  return launch_status(ctx, launch_row_sums_s8(out->rows, out->n_pad, k, kp, out->colsum, ctx.stream()),
                       "int8 weight sums");
}

Result<uint8_t*> q8_scratch(CudaKernelContext& ctx, size_t bytes) {
  KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(kLtWorkspaceBytes + bytes));
  return static_cast<uint8_t*>(ws) + kLtWorkspaceBytes;
}

Status run_q8_gemm(CudaKernelContext& ctx, QGemmState& state, const PackedQ8Weights& w, const int8_t* a, int64_t m,
                   int32_t* acc) {
  KILN_ASSIGN_OR_RETURN(const LtPlan* plan, lt_plan_in(state.plans, ctx, q8_problem(w, a, m, w.n_pad, acc, w.n_pad)));
  return plan->run(ctx, 0, 1.f, w.rows, a, 0.f, nullptr, acc, nullptr);
}

Status check_q_scale(const CudaKernelContext& ctx, size_t i, const char* name, int64_t channels, bool per_channel) {
  if (!ctx.has_input(i)) return ctx.error(std::string(name) + " is required");
  if (ctx.input_dtype(i) != DType::kFloat32)
    return ctx.unsupported(std::string(name) + " must be float32 on CUDA, got " + dtype_name(ctx.input_dtype(i)));
  const int64_t count = numel_of(ctx.input_dims(i));
  if (count != 1 && !(per_channel && count == channels))
    return ctx.error(std::string(name) + " must have 1" + (per_channel ? " or " + std::to_string(channels) : "") +
                     " values, got shape " + dims_to_string(ctx.input_dims(i)));
  return ok_status();
}

Status check_q_zero_point(const CudaKernelContext& ctx, size_t i, const char* name, int64_t channels,
                          bool per_channel) {
  if (!ctx.has_input(i)) return ok_status();
  const DType t = ctx.input_dtype(i);
  if (t != DType::kUInt8 && t != DType::kInt8)
    return ctx.error(std::string(name) + " must be uint8 or int8, got " + dtype_name(t));
  const int64_t count = numel_of(ctx.input_dims(i));
  if (count != 1 && !(per_channel && count == channels))
    return ctx.error(std::string(name) + " must have 1" + (per_channel ? " or " + std::to_string(channels) : "") +
                     " values, got shape " + dims_to_string(ctx.input_dims(i)));
  return ok_status();
}

Result<QZeroPoint> q_zero_point(CudaKernelContext& ctx, size_t i) {
  QZeroPoint z;
  if (!ctx.has_input(i)) return z;
  KILN_ASSIGN_OR_RETURN(DeviceTensor t, ctx.input(i));
  z.data = t.data;
  z.is_u8 = t.dtype == DType::kUInt8;
  z.count = t.numel();
  return z;
}

Status read_requant_inputs(CudaKernelContext& ctx, DType yt, bool has_bias, RequantParams* rq) {
  KILN_ASSIGN_OR_RETURN(DeviceTensor as, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(DeviceTensor bs, ctx.input(4));
  KILN_ASSIGN_OR_RETURN(DeviceTensor ys, ctx.input(6));
  rq->a_scale = as.ptr<float>();
  rq->b_scale = bs.ptr<float>();
  rq->b_scale_count = bs.numel();
  rq->y_scale = ys.ptr<float>();
  KILN_ASSIGN_OR_RETURN(rq->a_zp, q_zero_point(ctx, 2));
  KILN_ASSIGN_OR_RETURN(rq->b_zp, q_zero_point(ctx, 5));
  KILN_ASSIGN_OR_RETURN(rq->y_zp, q_zero_point(ctx, 7));
  rq->y_is_u8 = yt == DType::kUInt8;
  if (has_bias) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor bias, ctx.input(8));
    rq->bias = bias.ptr<int32_t>();
  }
  return ok_status();
}

}  // namespace kiln::cuda
