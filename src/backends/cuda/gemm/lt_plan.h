// cuBLASLt matmul plans: descriptors and heuristic results for one column-major problem, cached per node.
#pragma once
#include <cublasLt.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/gemm/epilogue.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// Workspace each cuBLASLt call may use.
constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
// Heuristic results requested per shape (the tactics the tuner may time).
constexpr int kLtMaxAlgos = 32;
// Split-K variants (2..8 splits, float32 partial sums) are added for the best kLtSplitKBases heuristics when their
// output tiles do not fill the GPU, each split at least kLtMinSplitKDepth deep; they follow the first
// kLtHeuristicsBeforeVariants heuristics in the tactic list.
constexpr size_t kLtSplitKBases = 2;
constexpr int64_t kLtMinSplitKDepth = 128;
constexpr size_t kLtHeuristicsBeforeVariants = 2;

// D[m x n] = alpha * op(A)[m x k] op(B)[k x n] (+ beta * C) in cuBLAS column-major terms, `batch` times.
// C, when used, has D's layout. Alignments are the largest power of two (<= 256) dividing each operand's
// pointer and batch stride in bytes; they are part of the key because heuristics depend on them.
struct LtProblem {
  ElemType type = ElemType::kF32;
  // int8 x int8 -> int32 (CUBLAS_COMPUTE_32I; `type` is ignored): A and B int8, C and D int32, alpha and beta
  // applied as int32 (quant/qgemm_host.h). No split-K variants.
  bool int8 = false;
  // Float8 operands (FP8 GEMM, Hopper/Ada): 1 e4m3, 2 e5m2 for cuBLASLt's A and B (not both e5m2), 0 for `type`.
  // C, D and the bias then have `type`; compute in float32; needs trans_a && !trans_b (cuBLASLt's "TN").
  int fp8_a = 0, fp8_b = 0;
  // D in float8 e4m3 (C and the bias keep `type`; run() then takes the D scale, a device float multiplying the result).
  bool fp8_d = false;
  bool tf32 = false;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batch matrices (0: shared)
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  int align_a = 256, align_b = 256, align_c = 256, align_d = 256;
  std::string key() const;
};

// Owns the descriptors of one problem and its tactics: heuristic results (best first) with split-K variants.
class LtPlan {
 public:
  LtPlan() = default;
  LtPlan(const LtPlan&) = delete;
  LtPlan& operator=(const LtPlan&) = delete;
  ~LtPlan();
  static Result<std::unique_ptr<LtPlan>> create(CudaKernelContext& ctx, const LtProblem& p);
  int num_algos() const { return static_cast<int>(algos_.size()); }
  // D = alpha * op(A) op(B) + beta * C (+ bias through the epilogue). `c` may equal nullptr when beta == 0.
  // `d_scale`: float8 D plans only, the device float32 the result is multiplied by before conversion.
  Status run(CudaKernelContext& ctx, int64_t tactic, float alpha, const void* a, const void* b, float beta,
             const void* c, void* d, const void* bias, const void* d_scale = nullptr) const;

 private:
  // The bias pointer (when given), tactic `tactic`'s workspace, one cublasLtMatmul (C = D when c is null).
  Status launch(CudaKernelContext& ctx, int64_t tactic, const void* alpha, const void* a, const void* b,
                const void* beta, const void* c, void* d, const void* bias, const void* d_scale) const;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, lc_ = nullptr;
  cublasLtMatrixLayout_t ld_ = nullptr;  // D's layout when it differs from C's (float8 D), else lc_ is used
  cublasLtEpilogue_t epilogue_ = CUBLASLT_EPILOGUE_DEFAULT;
  bool int8_ = false;  // int32 scalars (int8 x int8 -> int32)
  std::vector<cublasLtMatmulHeuristicResult_t> algos_;

  static std::vector<cublasLtMatmulHeuristicResult_t> split_k_variants(cublasLtHandle_t lt, const LtPlan& plan,
                                                                       int64_t k);
};

// Plans keyed by LtProblem::key().
struct LtPlanCache {
  std::map<std::string, std::unique_ptr<LtPlan>> plans;
};
// The plan of `p` in `cache`, created on first use.
Result<const LtPlan*> lt_plan_in(LtPlanCache& cache, CudaKernelContext& ctx, const LtProblem& p);
// The plans of one node in one context, keyed by LtProblem::key(). Lives in ctx.node_state().
Result<const LtPlan*> lt_plan_for(CudaKernelContext& ctx, const LtProblem& p);

// Largest power of two <= 256 dividing every value (pointer addresses and byte strides).
int alignment_of(std::initializer_list<uint64_t> values);

}  // namespace kiln::cuda
