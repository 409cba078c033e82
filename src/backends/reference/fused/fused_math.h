// Scalar semantics of the fused ops (docs/fused-ops.md): activations and FusedElementwise steps, plus the
// tensor plumbing the fused reference kernels share.
#pragma once
#include <cmath>
#include <vector>

#include "backends/reference/common.h"
#include "ir/infer/fused_ops.h"

namespace kiln::fused_ref {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;

template <typename T>
T gelu_erf(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
}
template <typename T>
T gelu_tanh(T x) {
  return T(0.5) * x * (T(1) + std::tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
}
template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// y = act(x), computed in double (the oracle for the GPU kernels' float math).
inline double apply_activation(const fused::Activation& a, double x) {
  using fused::ActKind;
  switch (a.kind) {
    case ActKind::kNone:
      return x;
    case ActKind::kRelu:
      return x > 0 ? x : 0.0;
    case ActKind::kLeakyRelu:
      return x >= 0 ? x : x * a.alpha;
    case ActKind::kSigmoid:
      return sigmoid(x);
    case ActKind::kTanh:
      return std::tanh(x);
    case ActKind::kClip:
      return std::fmin(std::fmax(x, static_cast<double>(a.alpha)), static_cast<double>(a.beta));
    case ActKind::kSilu:
      return x * sigmoid(x);
    case ActKind::kGelu:
      return gelu_erf(x);
    case ActKind::kGeluTanh:
      return gelu_tanh(x);
    case ActKind::kHardSigmoid:
      return std::fmax(0.0, std::fmin(1.0, a.alpha * x + a.beta));
    case ActKind::kHardSwish:
      return x * std::fmax(0.0, std::fmin(1.0, x / 6.0 + 0.5));
  }
  return x;
}

// One FusedElementwise step in float32; `b`, `c` are ignored by ops of lower arity.
inline float eval_step(fused::EwOp op, float a, float b, float c) {
  using fused::EwOp;
  switch (op) {
    case EwOp::kAdd:
      return a + b;
    case EwOp::kSub:
      return a - b;
    case EwOp::kMul:
      return a * b;
    case EwOp::kDiv:
      return a / b;
    case EwOp::kPow:
      return std::pow(a, b);
    case EwOp::kMax:
      return std::isnan(a) || std::isnan(b) ? NAN : std::fmax(a, b);
    case EwOp::kMin:
      return std::isnan(a) || std::isnan(b) ? NAN : std::fmin(a, b);
    case EwOp::kNeg:
      return -a;
    case EwOp::kAbs:
      return std::fabs(a);
    case EwOp::kRelu:
      return a > 0.f ? a : 0.f;
    case EwOp::kSigmoid:
      return sigmoid(a);
    case EwOp::kTanh:
      return std::tanh(a);
    case EwOp::kExp:
      return std::exp(a);
    case EwOp::kLog:
      return std::log(a);
    case EwOp::kSqrt:
      return std::sqrt(a);
    case EwOp::kReciprocal:
      return 1.f / a;
    case EwOp::kErf:
      return std::erf(a);
    case EwOp::kGelu:
      return gelu_erf(a);
    case EwOp::kGeluTanh:
      return gelu_tanh(a);
    case EwOp::kSilu:
      return a * sigmoid(a);
    case EwOp::kFloor:
      return std::floor(a);
    case EwOp::kCeil:
      return std::ceil(a);
    case EwOp::kLeakyRelu:
      return a >= 0.f ? a : a * b;
    case EwOp::kClip:
      return std::fmin(std::fmax(a, b), c);
  }
  return a;
}

// The dtypes the fused reference kernels accept: float16, bfloat16, float32, float64.
inline bool fused_dtype_supported(DType t) {
  return t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat32 || t == DType::kFloat64;
}

// A float64 tensor back to `target` (rounding once, from double, for the narrow types via float32).
inline Tensor from_float64(const Tensor& t, DType target) {
  if (target == DType::kFloat64) return t;
  Tensor f(DType::kFloat32, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) f.data<float>()[i] = static_cast<float>(t.data<double>()[i]);
  return from_float32(f, target);
}

// Copies of a float64 tensor with dim `from` moved to position `to` (layout changes NHWC <-> NCHW).
inline Tensor move_axis(const Tensor& t, size_t from, size_t to) {
  std::vector<size_t> perm;
  for (size_t i = 0; i < t.rank(); ++i)
    if (i != from) perm.push_back(i);
  perm.insert(perm.begin() + to, from);
  Dims out_dims;
  for (size_t p : perm) out_dims.push_back(t.dim(p));
  Tensor out(DType::kFloat64, out_dims);
  const auto in_strides = strides_of(t.dims());
  std::vector<int64_t> idx(t.rank(), 0);
  const double* src = t.data<double>();
  double* dst = out.data<double>();
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t off = 0;
    for (size_t k = 0; k < perm.size(); ++k) off += idx[k] * in_strides[perm[k]];
    dst[o] = src[off];
    for (size_t k = perm.size(); k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// Checks that X's dtype is supported and that the optional inputs present (of the first `num_inputs`) share it.
Status check_fused_dtypes(const KernelContext& ctx, size_t num_inputs);

// Runs reference kernel `fn` as if the fused node were `op` with the given inputs; output 0 comes back.
// Errors keep the inner kernel's code and say which fused node they came from.
Result<Tensor> run_inner_kernel(const KernelContext& ctx, OpKind op, KernelFn fn, const std::vector<Tensor>& inputs);

}  // namespace kiln::fused_ref
