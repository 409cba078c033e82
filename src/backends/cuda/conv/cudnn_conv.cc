// cuDNN convolution descriptors, algorithm lists (cudnnGet*Algorithm_v7) and the per-node plan cache.
#include "backends/cuda/conv/cudnn_conv.h"

#include <algorithm>
#include <map>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cudnn_fe/fe_util.h"

namespace kiln::cuda {
namespace {

// Math mode for running an algorithm: tensor cores for half types; for float32 only when TF32 is allowed.
cudnnMathType_t run_math(const ConvProblem& p, cudnnMathType_t suggested) {
  if (p.type == ElemType::kF32) return p.tf32 ? suggested : CUDNN_FMA_MATH;
  return suggested == CUDNN_DEFAULT_MATH ? CUDNN_TENSOR_OP_MATH : suggested;
}

}  // namespace

cudnnDataType_t cudnn_data_type(ElemType t) {
  switch (t) {
    case ElemType::kF16:
      return CUDNN_DATA_HALF;
    case ElemType::kBF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

std::string ConvProblem::key() const {
  std::string s = std::to_string(int(type)) + (channels_last ? "L" : "F") + (tf32 ? "T" : "S") +
                  (backward_data ? "B" : "F") + std::to_string(groups);
  for (const auto* v : {&x_dims, &w_dims, &y_dims, &pads, &strides, &dilations}) {
    s += "|";
    for (int d : *v) s += std::to_string(d) + ",";
  }
  return s;
}

ConvPlan::~ConvPlan() {
  if (x_) cudnnDestroyTensorDescriptor(x_);
  if (y_) cudnnDestroyTensorDescriptor(y_);
  if (bias_) cudnnDestroyTensorDescriptor(bias_);
  if (w_) cudnnDestroyFilterDescriptor(w_);
  if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  if (relu_) cudnnDestroyActivationDescriptor(relu_);
  if (identity_) cudnnDestroyActivationDescriptor(identity_);
}

Result<std::unique_ptr<ConvPlan>> ConvPlan::create(CudaKernelContext& ctx, const ConvProblem& p) {
  auto plan = std::make_unique<ConvPlan>();
  plan->problem_ = p;
  const cudnnDataType_t dt = cudnn_data_type(p.type);
  const cudnnTensorFormat_t fmt = p.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const int nb = static_cast<int>(p.x_dims.size());
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->x_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->y_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->bias_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&plan->w_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&plan->conv_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(plan->x_, fmt, dt, nb, p.x_dims.data()));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(plan->y_, fmt, dt, nb, p.y_dims.data()));
  std::vector<int> bias_dims(nb, 1);
  bias_dims[1] = p.y_dims[1];
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(plan->bias_, CUDNN_TENSOR_NCHW, dt, nb, bias_dims.data()));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetFilterNdDescriptor(plan->w_, dt, fmt, nb, p.w_dims.data()));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionNdDescriptor(plan->conv_, nb - 2, p.pads.data(), p.strides.data(),
                                                             p.dilations.data(), CUDNN_CROSS_CORRELATION,
                                                             CUDNN_DATA_FLOAT));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(plan->conv_, p.groups));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(
      plan->conv_, p.type == ElemType::kF32 && !p.tf32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&plan->relu_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&plan->identity_));
  KILN_CUDNN_RETURN_IF_ERROR(
      cudnnSetActivationDescriptor(plan->relu_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  KILN_CUDNN_RETURN_IF_ERROR(
      cudnnSetActivationDescriptor(plan->identity_, CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0));

  // cuDNN must agree with our output shape.
  std::vector<int> got(nb);
  KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionNdForwardOutputDim(plan->conv_, plan->x_, plan->w_, nb, got.data()));
  if (got != p.y_dims) return internal_error(ctx.node().describe() + ": cuDNN computes a different output shape");

  auto add = [&](int algo, cudnnStatus_t st, size_t mem, cudnnMathType_t math) {
    if (st != CUDNN_STATUS_SUCCESS || mem > kCudnnWorkspaceBytes) return;
    ConvAlgo a{algo, mem, run_math(p, math)};
    for (const ConvAlgo& b : plan->algos_)
      if (b.algo == a.algo && b.math == a.math) return;
    plan->algos_.push_back(a);
  };
  int returned = 0;
  if (!p.backward_data) {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 2);
    KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(
        ctx.cudnn(), plan->x_, plan->w_, plan->conv_, plan->y_, static_cast<int>(perf.size()), &returned, perf.data()));
    for (int i = 0; i < returned; ++i) add(perf[i].algo, perf[i].status, perf[i].memory, perf[i].mathType);
  } else {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT * 2);
    KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        ctx.cudnn(), plan->w_, plan->y_, plan->conv_, plan->x_, static_cast<int>(perf.size()), &returned, perf.data()));
    for (int i = 0; i < returned; ++i) add(perf[i].algo, perf[i].status, perf[i].memory, perf[i].mathType);
  }
  if (plan->algos_.empty())
    return ctx.unsupported("cuDNN has no convolution algorithm for this shape and dtype within the workspace limit");
  return plan;
}

Status ConvPlan::forward(CudaKernelContext& ctx, const ConvAlgo& a, const void* x, const void* w, void* y,
                         void* ws) const {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.cudnn(), ctx.stream()));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_, a.math));
  const float one = 1.f, zero = 0.f;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(ctx.cudnn(), &one, x_, x, w_, w, conv_,
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws, a.workspace,
                                                     &zero, y_, y));
  return ok_status();
}

bool ConvPlan::try_fused(CudaKernelContext& ctx, const ConvAlgo& a, const void* x, const void* w, const void* z,
                         const void* bias, bool relu, void* y, void* ws) const {
  if (fused_rejected_ || !bias) return false;
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(a.algo);
  if (!relu && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return false;
  if (cudnnSetStream(ctx.cudnn(), ctx.stream()) != CUDNN_STATUS_SUCCESS) return false;
  if (cudnnSetConvolutionMathType(conv_, a.math) != CUDNN_STATUS_SUCCESS) return false;
  const float one = 1.f, alpha2 = z ? 1.f : 0.f;
  const cudnnStatus_t st =
      cudnnConvolutionBiasActivationForward(ctx.cudnn(), &one, x_, x, w_, w, conv_, algo, ws, a.workspace, &alpha2, y_,
                                            z ? z : y, bias_, bias, relu ? relu_ : identity_, y_, y);
  if (st == CUDNN_STATUS_SUCCESS) return true;
  fused_rejected_ = true;  // do not ask again for this shape
  return false;
}

Status ConvPlan::backward_data(CudaKernelContext& ctx, const ConvAlgo& a, const void* w, const void* dy, void* dx,
                               void* ws) const {
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.cudnn(), ctx.stream()));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_, a.math));
  const float one = 1.f, zero = 0.f;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBackwardData(ctx.cudnn(), &one, w_, w, y_, dy, conv_,
                                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws,
                                                          a.workspace, &zero, x_, dx));
  return ok_status();
}

Result<const ConvPlan*> conv_plan_for(CudaKernelContext& ctx, const ConvProblem& p) {
  auto& plans = node_state_as<ConvNodeState>(ctx).legacy;
  const std::string key = p.key();
  auto it = plans.find(key);
  if (it != plans.end()) {
    if (!it->second) return ctx.unsupported("no cuDNN convolution plan for this shape (cached failure)");
    return static_cast<const ConvPlan*>(it->second.get());
  }
  auto created = ConvPlan::create(ctx, p);
  if (!created.ok()) {
    plans.emplace(key, nullptr);  // remembered: callers fall back without asking cuDNN again
    return created.status();
  }
  std::unique_ptr<ConvPlan> plan = std::move(created).value();
  const ConvPlan* raw = plan.get();
  plans.emplace(key, std::move(plan));
  return raw;
}

}  // namespace kiln::cuda
