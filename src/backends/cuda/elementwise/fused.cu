// Device code of FusedElementwise: one kernel walks the bytecode per output element in float32.
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/elementwise/fused.h"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ float sigmoid_f(float x) { return 1.f / (1.f + expf(-x)); }

// Step semantics of docs/fused-ops.md (the reference backend's eval_step).
__device__ __forceinline__ float eval(FusedOp op, float a, float b, float c) {
  switch (op) {
    case FusedOp::kAdd:
      return a + b;
    case FusedOp::kSub:
      return a - b;
    case FusedOp::kMul:
      return a * b;
    case FusedOp::kDiv:
      return a / b;
    case FusedOp::kPow:
      return powf(a, b);
    case FusedOp::kMax:
      return isnan(a) || isnan(b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
    case FusedOp::kMin:
      return isnan(a) || isnan(b) ? __int_as_float(0x7fc00000) : fminf(a, b);
    case FusedOp::kNeg:
      return -a;
    case FusedOp::kAbs:
      return fabsf(a);
    case FusedOp::kRelu:
      return a > 0.f ? a : 0.f;
    case FusedOp::kSigmoid:
      return sigmoid_f(a);
    case FusedOp::kTanh:
      return tanhf(a);
    case FusedOp::kExp:
      return expf(a);
    case FusedOp::kLog:
      return logf(a);
    case FusedOp::kSqrt:
      return sqrtf(a);
    case FusedOp::kReciprocal:
      return 1.f / a;
    case FusedOp::kErf:
      return erff(a);
    case FusedOp::kGelu:
      return 0.5f * a * (1.f + erff(a * 0.70710678118654752440f));
    case FusedOp::kGeluTanh:
      return 0.5f * a * (1.f + tanhf(0.79788456080286535588f * (a + 0.044715f * a * a * a)));
    case FusedOp::kSilu:
      return a * sigmoid_f(a);
    case FusedOp::kFloor:
      return floorf(a);
    case FusedOp::kCeil:
      return ceilf(a);
    case FusedOp::kLeakyRelu:
      return a >= 0.f ? a : a * b;
    case FusedOp::kClip:
      return fminf(fmaxf(a, b), c);
  }
  return a;
}

__device__ __forceinline__ float load_input(const void* p, DType dt, int64_t off) {
  switch (dt) {
    case DType::kFloat16:
      return __half2float(static_cast<const __half*>(p)[off]);
    case DType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[off]);
    default:
      return static_cast<const float*>(p)[off];
  }
}

template <typename T>
__global__ void fused_elementwise_kernel(const __grid_constant__ FusedProgram prog,
                                         const __grid_constant__ FusedInputs in, T* __restrict__ y, int64_t n) {
  float s[kMaxFusedSteps];
  KILN_GRID_LOOP(i, n) {
    int64_t off[kMaxFusedInputs];
    if (in.all_contiguous) {
#pragma unroll
      for (int k = 0; k < kMaxFusedInputs; ++k) off[k] = i;
    } else {
      broadcast_offsets<kMaxFusedInputs>(in.desc, i, off);
    }
    float x[kMaxFusedInputs];
#pragma unroll
    for (int k = 0; k < kMaxFusedInputs; ++k)
      if (k < in.count) x[k] = load_input(in.ptr[k], in.dtype[k], off[k]);
    float last = 0.f;
    for (int j = 0; j < prog.num_steps; ++j) {
      const FusedInstr& st = prog.steps[j];
      float v[3];
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        const FusedOperand& o = st.args[a];
        float r = o.value;
        if (o.kind == 0) {
#pragma unroll
          for (int k = 0; k < kMaxFusedInputs; ++k)
            if (k == o.index) r = x[k];
        } else if (o.kind == 1) {
          r = s[o.index];
        }
        v[a] = r;
      }
      last = eval(st.op, v[0], v[1], v[2]);
      s[j] = last;
    }
    y[i] = from_f32<T>(last);
  }
}

}  // namespace

cudaError_t launch_fused_elementwise(const FusedProgram& prog, const FusedInputs& in, DType out_dtype, void* y,
                                     int64_t n, cudaStream_t s) {
  switch (out_dtype) {
    case DType::kFloat32:
      fused_elementwise_kernel<<<grid_for(n), kThreads, 0, s>>>(prog, in, static_cast<float*>(y), n);
      break;
    case DType::kFloat16:
      fused_elementwise_kernel<<<grid_for(n), kThreads, 0, s>>>(prog, in, static_cast<__half*>(y), n);
      break;
    case DType::kBFloat16:
      fused_elementwise_kernel<<<grid_for(n), kThreads, 0, s>>>(prog, in, static_cast<__nv_bfloat16*>(y), n);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
