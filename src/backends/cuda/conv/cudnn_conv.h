// cuDNN legacy-API convolution plans: descriptors plus the algorithms that fit the workspace, cached per node.
#pragma once
#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/gemm/epilogue.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

// Largest cuDNN workspace a tactic may use.
constexpr size_t kCudnnWorkspaceBytes = size_t{256} << 20;

// A forward convolution in cuDNN's logical terms: x [N, C, spatial...] -> y [N, K, spatial...] with filter
// [K, C/groups, kernel...]; `channels_last` stores x, y as N..C and the filter as K, kernel..., C/groups.
// At least 2 spatial dims (1-D convs arrive here as H = 1). Pads are symmetric (callers pad explicitly otherwise).
// backward_data: the plan runs cudnnConvolutionBackwardData (dy = y's shape in, dx = x's shape out).
struct ConvProblem {
  ElemType type = ElemType::kF32;
  bool channels_last = false;
  bool tf32 = false;
  bool backward_data = false;
  std::vector<int> x_dims, w_dims, y_dims;
  std::vector<int> pads, strides, dilations;
  int groups = 1;
  std::string key() const;
};

struct ConvAlgo {
  int algo = 0;  // cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

class ConvPlan {
 public:
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan();
  static Result<std::unique_ptr<ConvPlan>> create(CudaKernelContext& ctx, const ConvProblem& p);

  int num_algos() const { return static_cast<int>(algos_.size()); }
  const ConvAlgo& algo(int64_t tactic) const {
    return tactic >= 0 && tactic < num_algos() ? algos_[tactic] : algos_[0];
  }
  // y = conv(x, w) with the algorithm's workspace at `ws`.
  Status forward(CudaKernelContext& ctx, const ConvAlgo& a, const void* x, const void* w, void* y, void* ws) const;
  // y = act(conv(x, w) + z + bias) with act Relu or identity (identity only with IMPLICIT_PRECOMP_GEMM).
  // Returns false (nothing written) when cuDNN rejects the combination; the caller then runs forward() and
  // its own epilogue. `z` may be null.
  bool try_fused(CudaKernelContext& ctx, const ConvAlgo& a, const void* x, const void* w, const void* z,
                 const void* bias, bool relu, void* y, void* ws) const;
  // dx = conv_backward_data(w, dy).
  Status backward_data(CudaKernelContext& ctx, const ConvAlgo& a, const void* w, const void* dy, void* dx,
                       void* ws) const;

 private:
  ConvProblem problem_;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, bias_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnActivationDescriptor_t relu_ = nullptr, identity_ = nullptr;
  std::vector<ConvAlgo> algos_;
  mutable bool fused_rejected_ = false;
};

class GraphConvPlans;

// What a Conv / FusedConv / ConvTranspose node keeps in ctx.node_state(), keyed by problem key. nullptr entries
// remember a failed creation: later calls for that key fail at once without asking cuDNN again.
struct ConvNodeState {
  std::map<std::string, std::unique_ptr<ConvPlan>> legacy;             // ConvProblem::key()
  std::map<std::string, std::shared_ptr<const GraphConvPlans>> graph;  // GraphConvProblem::key()
  std::map<std::string, std::shared_ptr<const GraphConvPlans>> own;    // key() + "#" + plan: private copies
  std::map<std::string, bool> named;                                   // tactic names published (conv.cc)
};

// The legacy plans of one node for `p` (ConvNodeState::legacy). A failed creation is cached too (Conv/FusedConv
// then use the graph plans or the direct kernel).
Result<const ConvPlan*> conv_plan_for(CudaKernelContext& ctx, const ConvProblem& p);

cudnnDataType_t cudnn_data_type(ElemType t);

}  // namespace kiln::cuda
