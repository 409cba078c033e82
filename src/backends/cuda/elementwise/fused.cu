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

// The program on one element's inputs x[0..count).
__device__ __forceinline__ float run_program(const FusedProgram& prog, const float (&x)[kMaxFusedInputs]) {
  float s[kMaxFusedSteps];
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
  return last;
}

// Offsets of element i in each input, in index type Idx (32-bit when every offset fits: cheaper divisions).
template <typename Idx>
__device__ __forceinline__ void input_offsets(const FusedInputs& in, Idx i, Idx (&off)[kMaxFusedInputs]) {
#pragma unroll
  for (int k = 0; k < kMaxFusedInputs; ++k) off[k] = in.all_contiguous ? i : 0;
  if (in.all_contiguous) return;
  for (int r = in.desc.rank - 1; r >= 0; --r) {
    const Idx n = static_cast<Idx>(in.desc.dims[r]);
    const Idx q = i / n;
    const Idx c = i - q * n;
    i = q;
#pragma unroll
    for (int k = 0; k < kMaxFusedInputs; ++k)
      if (k < in.count) off[k] += c * static_cast<Idx>(in.desc.strides[k][r]);
  }
}

// Each thread computes V consecutive outputs. V > 1 only when V divides the innermost collapsed dim, so the V
// elements share their outer offsets and step through each input by its innermost stride (0 or 1).
template <typename T, typename Idx, int V>
__global__ void fused_elementwise_kernel(const __grid_constant__ FusedProgram prog,
                                         const __grid_constant__ FusedInputs in, T* __restrict__ y, Idx groups) {
  Idx inner[kMaxFusedInputs];
#pragma unroll
  for (int k = 0; k < kMaxFusedInputs; ++k)
    inner[k] = in.all_contiguous || in.desc.rank == 0 ? Idx(1) : static_cast<Idx>(in.desc.strides[k][in.desc.rank - 1]);
  for (Idx g = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<Idx>(blockDim.x) * gridDim.x) {
    const Idx i0 = g * V;
    Idx off[kMaxFusedInputs];
    input_offsets<Idx>(in, i0, off);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      float x[kMaxFusedInputs];
#pragma unroll
      for (int k = 0; k < kMaxFusedInputs; ++k)
        if (k < in.count) x[k] = load_input(in.ptr[k], in.dtype[k], off[k] + v * inner[k]);
      y[i0 + v] = from_f32<T>(run_program(prog, x));
    }
  }
}

template <typename T>
void launch_typed(const FusedProgram& prog, const FusedInputs& in, T* y, int64_t n, cudaStream_t s) {
  const int64_t innermost = in.all_contiguous ? n : in.desc.rank > 0 ? in.desc.dims[in.desc.rank - 1] : 1;
  constexpr int kV = 4;
  const bool grouped = innermost % kV == 0 && n % kV == 0;
  int64_t max_off = n;
  if (!in.all_contiguous)
    for (int k = 0; k < in.count; ++k) {
      int64_t o = 0;
      for (int r = 0; r < in.desc.rank; ++r) o += (in.desc.dims[r] - 1) * in.desc.strides[k][r];
      max_off = o + 1 > max_off ? o + 1 : max_off;
    }
  const bool small = max_off < (int64_t{1} << 31) - kV;
  if (grouped && small) {
    fused_elementwise_kernel<T, int32_t, kV><<<grid_for(n / kV), kThreads, 0, s>>>(prog, in, y, int32_t(n / kV));
  } else if (small) {
    fused_elementwise_kernel<T, int32_t, 1><<<grid_for(n), kThreads, 0, s>>>(prog, in, y, int32_t(n));
  } else {
    fused_elementwise_kernel<T, int64_t, 1><<<grid_for(n), kThreads, 0, s>>>(prog, in, y, n);
  }
}

}  // namespace

cudaError_t launch_fused_elementwise(const FusedProgram& prog, const FusedInputs& in, DType out_dtype, void* y,
                                     int64_t n, cudaStream_t s) {
  switch (out_dtype) {
    case DType::kFloat32:
      launch_typed(prog, in, static_cast<float*>(y), n, s);
      break;
    case DType::kFloat16:
      launch_typed(prog, in, static_cast<__half*>(y), n, s);
      break;
    case DType::kBFloat16:
      launch_typed(prog, in, static_cast<__nv_bfloat16*>(y), n, s);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
