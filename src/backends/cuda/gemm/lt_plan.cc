// cuBLASLt descriptor setup, heuristic queries and the per-node plan cache.
#include "backends/cuda/gemm/lt_plan.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {
namespace {

cudaDataType_t lt_data_type(ElemType t) {
  switch (t) {
    case ElemType::kF16:
      return CUDA_R_16F;
    case ElemType::kBF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

size_t elem_bytes(ElemType t) { return t == ElemType::kF32 ? 4 : 2; }

Status make_layout(cublasLtMatrixLayout_t* l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                   int64_t stride) {
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(l, t, rows, cols, ld));
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return ok_status();
}

// True when environment variable `name` is set to "0".
bool env_flag_off(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string(v) == "0";
}

}  // namespace

std::string LtProblem::key() const {
  std::string s;
  for (int64_t v : {int64_t(type),
                    int64_t(int8),
                    int64_t(fp8_a),
                    int64_t(fp8_b),
                    int64_t(fp8_d),
                    int64_t(tf32),
                    int64_t(trans_a),
                    int64_t(trans_b),
                    m,
                    n,
                    k,
                    lda,
                    ldb,
                    ldc,
                    batch,
                    stride_a,
                    stride_b,
                    stride_c,
                    int64_t(epilogue),
                    int64_t(align_a),
                    int64_t(align_b),
                    int64_t(align_c),
                    int64_t(align_d)})
    s += std::to_string(v) + ",";
  return s;
}

int alignment_of(std::initializer_list<uint64_t> values) {
  int a = 256;
  for (uint64_t v : values)
    while (a > 1 && v % static_cast<uint64_t>(a) != 0) a /= 2;
  return a;
}

LtPlan::~LtPlan() {
  if (la_) cublasLtMatrixLayoutDestroy(la_);
  if (lb_) cublasLtMatrixLayoutDestroy(lb_);
  if (lc_) cublasLtMatrixLayoutDestroy(lc_);
  if (ld_) cublasLtMatrixLayoutDestroy(ld_);
  if (op_) cublasLtMatmulDescDestroy(op_);
}

std::vector<cublasLtMatmulHeuristicResult_t> LtPlan::split_k_variants(cublasLtHandle_t lt, const LtPlan& plan,
                                                                      int64_t k) {
  std::vector<cublasLtMatmulHeuristicResult_t> out;
  const size_t bases = std::min<size_t>(kLtSplitKBases, plan.algos_.size());
  for (size_t i = 0; i < bases; ++i) {
    const cublasLtMatmulHeuristicResult_t& base = plan.algos_[i];
    if (base.wavesCount >= 1.f) continue;  // the output tiles already fill the GPU
    int32_t supported = 0;
    uint32_t schemes = 0, current = 1;
    size_t written = 0;
    if (cublasLtMatmulAlgoCapGetAttribute(&base.algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &supported, sizeof(supported),
                                          &written) != CUBLAS_STATUS_SUCCESS ||
        !supported)
      continue;
    if (cublasLtMatmulAlgoCapGetAttribute(&base.algo, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &schemes,
                                          sizeof(schemes), &written) != CUBLAS_STATUS_SUCCESS)
      continue;
    cublasLtMatmulAlgoConfigGetAttribute(&base.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &current, sizeof(current),
                                         &written);
    if (current > 1) continue;
    // Partial sums reduced in float32 (the compute type); in-place (atomic) reduction is never used: it is not
    // deterministic.
    if (!(schemes & CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE)) continue;
    const uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    for (uint32_t splits : {2u, 3u, 4u, 6u, 8u}) {
      if (k / splits < kLtMinSplitKDepth) break;
      cublasLtMatmulAlgo_t algo = base.algo;
      if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof(splits)) !=
              CUBLAS_STATUS_SUCCESS ||
          cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof(scheme)) !=
              CUBLAS_STATUS_SUCCESS)
        continue;
      cublasLtMatmulHeuristicResult_t r{};
      if (cublasLtMatmulAlgoCheck(lt, plan.op_, plan.la_, plan.lb_, plan.lc_, plan.lc_, &algo, &r) !=
              CUBLAS_STATUS_SUCCESS ||
          r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize > kLtWorkspaceBytes)
        continue;
      r.algo = algo;
      out.push_back(r);
    }
  }
  return out;
}

Result<std::unique_ptr<LtPlan>> LtPlan::create(CudaKernelContext& ctx, const LtProblem& p) {
  auto plan = std::make_unique<LtPlan>();
  const bool fp8 = p.fp8_a != 0 || p.fp8_b != 0;
  const cublasComputeType_t compute = p.int8                                       ? CUBLAS_COMPUTE_32I
                                      : p.type == ElemType::kF32 && p.tf32 && !fp8 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                   : CUBLAS_COMPUTE_32F;
  plan->int8_ = p.int8;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&plan->op_, compute, plan->int8_ ? CUDA_R_32I : CUDA_R_32F));
  const cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (fp8 && !env_flag_off("KILN_CUDA_FP8_FAST_ACCUM")) {
    // FP8 products accumulate in the tensor cores' own (narrower than float32) accumulator without cuBLASLt's
    // periodic float32 promotion: TransformerEngine's choice for inference (forward) GEMMs, and the fast kernels.
    // KILN_CUDA_FP8_FAST_ACCUM=0 asks for the promoting kernels (docs/int8.md, "FP8").
    const int8_t fast = 1;
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(plan->op_, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
  }
  plan->epilogue_ = p.epilogue;
  KILN_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(plan->op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &p.epilogue, sizeof(p.epilogue)));
  if (p.epilogue != CUBLASLT_EPILOGUE_DEFAULT && p.epilogue != CUBLASLT_EPILOGUE_RELU &&
      p.epilogue != CUBLASLT_EPILOGUE_GELU) {
    // Bias has D's type; one bias vector shared by every batch matrix.
    const cudaDataType_t bt = lt_data_type(p.type);
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(plan->op_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
  }
  const int64_t a_rows = p.trans_a ? p.k : p.m, a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_rows = p.trans_b ? p.n : p.k, b_cols = p.trans_b ? p.k : p.n;
  const cudaDataType_t ab_type = p.int8 ? CUDA_R_8I : lt_data_type(p.type);
  const cudaDataType_t cd_type = p.int8 ? CUDA_R_32I : lt_data_type(p.type);
  auto fp8_type = [&](int f) { return f == 1 ? CUDA_R_8F_E4M3 : f == 2 ? CUDA_R_8F_E5M2 : ab_type; };
  KILN_RETURN_IF_ERROR(make_layout(&plan->la_, fp8_type(p.fp8_a), a_rows, a_cols, p.lda, p.batch, p.stride_a));
  KILN_RETURN_IF_ERROR(make_layout(&plan->lb_, fp8_type(p.fp8_b), b_rows, b_cols, p.ldb, p.batch, p.stride_b));
  KILN_RETURN_IF_ERROR(make_layout(&plan->lc_, cd_type, p.m, p.n, p.ldc, p.batch, p.stride_c));
  if (p.fp8_d) KILN_RETURN_IF_ERROR(make_layout(&plan->ld_, CUDA_R_8F_E4M3, p.m, p.n, p.ldc, p.batch, p.stride_c));
  cublasLtMatrixLayout_t ld = plan->ld_ ? plan->ld_ : plan->lc_;

  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = kLtWorkspaceBytes;
  const uint32_t aa = p.align_a, ab = p.align_b, ac = p.align_c, ad = p.align_d;
  cublasStatus_t st =
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof(aa));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab, sizeof(ab));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof(ac));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ad, sizeof(ad));
  std::vector<cublasLtMatmulHeuristicResult_t> results(kLtMaxAlgos);
  int found = 0;
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(ctx.cublaslt(), plan->op_, plan->la_, plan->lb_, plan->lc_, ld, pref,
                                        kLtMaxAlgos, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  KILN_RETURN_IF_ERROR(cublas_status(st, "cublasLtMatmulAlgoGetHeuristic"));
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS) plan->algos_.push_back(results[i]);
  if (plan->algos_.empty())
    return ctx.unsupported("cuBLASLt has no algorithm for this matmul (m=" + std::to_string(p.m) +
                           " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k) + ")");
  std::vector<cublasLtMatmulHeuristicResult_t> variants;
  if (!p.int8 && !fp8) variants = split_k_variants(ctx.cublaslt(), *plan, p.k);
  if (std::getenv("KILN_CUDA_LT_LOG"))  // diagnostics of the tactic list
    std::fprintf(stderr, "kiln cublasLt: m=%lld n=%lld k=%lld: %zu heuristics (first: %.2f waves), %zu split-K\n",
                 static_cast<long long>(p.m), static_cast<long long>(p.n), static_cast<long long>(p.k),
                 plan->algos_.size(), plan->algos_[0].wavesCount, variants.size());
  const size_t at = std::min<size_t>(kLtHeuristicsBeforeVariants, plan->algos_.size());
  plan->algos_.insert(plan->algos_.begin() + static_cast<std::ptrdiff_t>(at), variants.begin(), variants.end());
  return plan;
}

Status LtPlan::launch(CudaKernelContext& ctx, int64_t tactic, const void* alpha, const void* a, const void* b,
                      const void* beta, const void* c, void* d, const void* bias, const void* d_scale) const {
  if (bias) {
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  if (ld_) {
    if (!d_scale) return internal_error("a float8-output cuBLASLt plan was run without its D scale");
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &d_scale, sizeof(d_scale)));
  }
  const auto& r = tactic >= 0 && tactic < num_algos() ? algos_[tactic] : algos_[0];
  void* ws = nullptr;
  if (r.workspaceSize > 0) {
    KILN_ASSIGN_OR_RETURN(ws, ctx.workspace(r.workspaceSize));
  }
  // Without C (beta 0) cuBLASLt reads none: C is D in place, or for a float8 D (another type than C's, which in-place
  // forbids) any other buffer, here B.
  const void* c_ptr = c ? c : ld_ ? b : d;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(ctx.cublaslt(), op_, alpha, a, la_, b, lb_, beta, c_ptr, lc_, d,
                                             ld_ ? ld_ : lc_, &r.algo, ws, r.workspaceSize, ctx.stream()));
  return ok_status();
}

Status LtPlan::run(CudaKernelContext& ctx, int64_t tactic, float alpha, const void* a, const void* b, float beta,
                   const void* c, void* d, const void* bias, const void* d_scale) const {
  // int8 plans take int32 scalars (CUDA_R_32I scale type).
  const int32_t ialpha = static_cast<int32_t>(alpha), ibeta = static_cast<int32_t>(beta);
  const void* pa = int8_ ? static_cast<const void*>(&ialpha) : &alpha;
  const void* pb = int8_ ? static_cast<const void*>(&ibeta) : &beta;
  return launch(ctx, tactic, pa, a, b, pb, c, d, bias, d_scale);
}

Result<const LtPlan*> lt_plan_in(LtPlanCache& cache, CudaKernelContext& ctx, const LtProblem& p) {
  const std::string key = p.key();
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return static_cast<const LtPlan*>(it->second.get());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LtPlan> plan, LtPlan::create(ctx, p));
  const LtPlan* raw = plan.get();
  cache.plans.emplace(key, std::move(plan));
  return raw;
}

Result<const LtPlan*> lt_plan_for(CudaKernelContext& ctx, const LtProblem& p) {
  std::shared_ptr<void>& state = ctx.node_state();
  if (!state) state = std::make_shared<LtPlanCache>();
  return lt_plan_in(*static_cast<LtPlanCache*>(state.get()), ctx, p);
}

}  // namespace kiln::cuda
