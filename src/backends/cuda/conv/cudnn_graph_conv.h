// cuDNN graph-API (frontend) forward convolutions with fused bias / residual / ReLU: each built execution plan is
// one tactic. Plans are built once per (device, problem) and shared; running one is graph-capturable, except for
// engines that compile their kernels at run time (offered only where GraphConvProblem::runtime_compiled allows).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/gemm/epilogue.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// Most plans kept per problem (heuristics order; the tuner times each).
constexpr int kMaxGraphConvPlans = 16;

// y = [relu](conv(x, w) [+ bias] [+ z]) in cuDNN's logical terms: x [N, C, spatial...], w [K, C/groups, kernel...],
// y and z [N, K, spatial...], bias [K]. `channels_last` stores x, y, z as N, spatial..., C and w as K, kernel...,
// C/groups. 2 or 3 spatial dims (1-D convs arrive as H = 1). Pads may be asymmetric (pre/post per spatial dim).
struct GraphConvProblem {
  ElemType type = ElemType::kF32;
  bool channels_last = false;
  bool tf32 = false;
  std::vector<int64_t> x_dims, w_dims, y_dims;
  std::vector<int64_t> pre_pads, post_pads, strides, dilations;
  bool bias = false, z = false, relu = false;
  bool runtime_compiled = false;  // offer engines that compile kernels at run time (see conv.cc at_tuned_shape)
  std::string key() const;
  // "bias+add+relu"-style summary of what the graph fuses ("" when nothing).
  std::string fused_ops() const;
};

// The built plans of one problem. Immutable once built; run() may be called from several contexts at once
// (each with its own cuDNN handle and stream).
class GraphConvPlans {
 public:
  GraphConvPlans();
  ~GraphConvPlans();
  GraphConvPlans(const GraphConvPlans&) = delete;
  GraphConvPlans& operator=(const GraphConvPlans&) = delete;

  // Builds the graph on `build_handle` (which must outlive the plans) and the first `want` plans that build, in
  // heuristics order (at most kMaxGraphConvPlans). unimplemented when cuDNN supports no engine for the problem;
  // errors name ctx's node.
  static Result<std::unique_ptr<GraphConvPlans>> create(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                        cudnnHandle_t build_handle, int want);

  int num_plans() const;
  // Whether every plan there is was built (num_plans() is then the problem's full plan count, as tuning saw it).
  bool complete() const;
  size_t workspace(int plan) const;
  // "engine 12 (eng12_k2=1_k3=0...)" for tactic names.
  const std::string& name(int plan) const;
  // Whether plan `plan`'s engine compiles its kernels at run time (behaviour note RUNTIME_COMPILATION).
  bool runtime_compiled(int plan) const;
  // A private copy of plan `plan` (same numbering, names and workspaces; only that plan built and runnable), built on
  // `build_handle` for one node of one execution context. cuDNN execution plans must not be shared between threads,
  // and a runtime-compiled engine shared by several nodes of one captured CUDA graph replayed wrong answers (one H100,
  // 2026-12-05): execution contexts run copies; the shared plans serve numbering and build-time tuning.
  Result<std::unique_ptr<GraphConvPlans>> copy_of(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                  cudnnHandle_t build_handle, int plan) const;
  // Enqueues plan `plan` on ctx's stream. `bias` / `z` must be non-null exactly when the problem has them;
  // `ws` holds workspace(plan) bytes (may be null when that is 0).
  Status run(CudaKernelContext& ctx, int plan, const void* x, const void* w, const void* bias, const void* z, void* y,
             void* ws) const;

 private:
  static Result<std::unique_ptr<GraphConvPlans>> build(const CudaKernelContext& ctx, const GraphConvProblem& p,
                                                       cudnnHandle_t build_handle, int want);
  Status finish(const CudaKernelContext& ctx);  // variant-pack template and user uids of a built graph
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The plans for `p`, built on first use and cached process-wide per (device, problem key): nodes and contexts with
// the same problem share them. A failed build is remembered (the Status is returned again without rebuilding).
// `want`: how many plans the caller needs. Tuning asks for all; running tactic t asks for t + 1, so the first run at
// a shape builds only the plans up to the chosen one (building a plan compiles its kernels: tens to hundreds of ms).
// The result has at least `want` plans unless complete(). Plan numbering does not depend on `want`.
constexpr int kAllGraphPlans = 1 << 30;
Result<std::shared_ptr<const GraphConvPlans>> graph_conv_plans_for(CudaKernelContext& ctx, const GraphConvProblem& p,
                                                                   int want = kAllGraphPlans);

// Plan `plan` of `shared` (plans for `p`) as this node of this context runs it: the shared plans themselves while the
// tuner times tactics, else a private copy_of() built once and kept in the node's state. KILN_CUDA_CONV_SHARED_PLANS=1
// runs the shared plans everywhere (diagnosis).
Result<std::shared_ptr<const GraphConvPlans>> graph_conv_plan_to_run(CudaKernelContext& ctx, const GraphConvProblem& p,
                                                                     const std::shared_ptr<const GraphConvPlans>& shared,
                                                                     int plan);

// Test hook: KILN_CUDA_CONV_GRAPH=0 disables the graph path (only legacy algorithms are offered).
bool graph_conv_disabled();

}  // namespace kiln::cuda
