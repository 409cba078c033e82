// Device code of FusedElementwise: one kernel walks the bytecode per output element in float32.
#include <type_traits>

#include "backends/cuda/device_common.cuh"
#include "backends/cuda/elementwise/fused.h"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ float sigmoid_f(float x) { return 1.f / (1.f + expf(-x)); }

// Step semantics of docs/fused-ops.md (the reference backend's eval_step), applied to V lanes at once: the
// switch is taken once per step, so the kernel holds one copy of every op's code (i-cache) whatever V is.
#define KILN_FUSED_CASE(OP, EXPR)                   \
  case FusedOp::OP:                                 \
    _Pragma("unroll") for (int v = 0; v < V; ++v) { \
      const float a = A[v], b = B[v], c = C[v];     \
      (void)b;                                      \
      (void)c;                                      \
      r[v] = (EXPR);                                \
    }                                               \
    break;

template <int V>
__device__ __forceinline__ void eval(FusedOp op, const float (&A)[V], const float (&B)[V], const float (&C)[V],
                                     float (&r)[V]) {
  constexpr float kNaN = __builtin_nanf("");
  switch (op) {
    KILN_FUSED_CASE(kAdd, a + b)
    KILN_FUSED_CASE(kSub, a - b)
    KILN_FUSED_CASE(kMul, a * b)
    KILN_FUSED_CASE(kDiv, a / b)
    KILN_FUSED_CASE(kPow, powf(a, b))
    KILN_FUSED_CASE(kMax, isnan(a) || isnan(b) ? kNaN : fmaxf(a, b))
    KILN_FUSED_CASE(kMin, isnan(a) || isnan(b) ? kNaN : fminf(a, b))
    KILN_FUSED_CASE(kNeg, -a)
    KILN_FUSED_CASE(kAbs, fabsf(a))
    KILN_FUSED_CASE(kRelu, a > 0.f ? a : 0.f)
    KILN_FUSED_CASE(kSigmoid, sigmoid_f(a))
    KILN_FUSED_CASE(kTanh, tanhf(a))
    KILN_FUSED_CASE(kExp, expf(a))
    KILN_FUSED_CASE(kLog, logf(a))
    KILN_FUSED_CASE(kSqrt, sqrtf(a))
    KILN_FUSED_CASE(kReciprocal, 1.f / a)
    KILN_FUSED_CASE(kErf, erff(a))
    KILN_FUSED_CASE(kGelu, 0.5f * a * (1.f + erff(a * 0.70710678118654752440f)))
    KILN_FUSED_CASE(kGeluTanh, 0.5f * a * (1.f + tanhf(0.79788456080286535588f * (a + 0.044715f * a * a * a))))
    KILN_FUSED_CASE(kSilu, a * sigmoid_f(a))
    KILN_FUSED_CASE(kFloor, floorf(a))
    KILN_FUSED_CASE(kCeil, ceilf(a))
    KILN_FUSED_CASE(kLeakyRelu, a >= 0.f ? a : a * b)
    KILN_FUSED_CASE(kClip, fminf(fmaxf(a, b), c))
    default:
#pragma unroll
      for (int v = 0; v < V; ++v) r[v] = A[v];
  }
}
#undef KILN_FUSED_CASE

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

// The program on V elements' inputs x[0..count)[v], decoded once per step for all V. kChain: every step reads
// only inputs, constants and the previous step's result (checked by the host), so no array of step results is
// kept (it would live in local memory).
template <bool kChain, int V>
__device__ __forceinline__ void run_program(const FusedProgram& prog, const float (&x)[kMaxFusedInputs][V],
                                            float (&last)[V]) {
  float s[kChain ? 1 : kMaxFusedSteps][V];
#pragma unroll
  for (int v = 0; v < V; ++v) last[v] = 0.f;
  for (int j = 0; j < prog.num_steps; ++j) {
    const FusedInstr& st = prog.steps[j];
    float a[3][V];
#pragma unroll
    for (int n = 0; n < 3; ++n) {
      const FusedOperand& o = st.args[n];
#pragma unroll
      for (int v = 0; v < V; ++v) a[n][v] = o.value;
      if (o.kind == 0) {
#pragma unroll
        for (int k = 0; k < kMaxFusedInputs; ++k)
          if (k == o.index)
#pragma unroll
            for (int v = 0; v < V; ++v) a[n][v] = x[k][v];
      } else if (o.kind == 1) {
#pragma unroll
        for (int v = 0; v < V; ++v) a[n][v] = kChain ? last[v] : s[o.index][v];
      }
    }
    eval<V>(st.op, a[0], a[1], a[2], last);
    if constexpr (!kChain)
#pragma unroll
      for (int v = 0; v < V; ++v) s[j][v] = last[v];
  }
}

__device__ __forceinline__ bool aligned_bytes(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Four consecutive elements of an input starting at `off` with innermost stride `inner` (0: one value repeated,
// 1: four in a row, read as one 8- or 16-byte access when aligned).
template <typename Idx>
__device__ __forceinline__ void load4(const void* p, DType dt, Idx off, Idx inner, float (&o)[4]) {
  if (inner == 0) {
    const float v = load_input(p, dt, off);
#pragma unroll
    for (int e = 0; e < 4; ++e) o[e] = v;
    return;
  }
  if (inner == 1 && off % 4 == 0) {
    if (dt == DType::kFloat32 && aligned_bytes(p, 16)) {
      const float4 q = *reinterpret_cast<const float4*>(static_cast<const float*>(p) + off);
      o[0] = q.x, o[1] = q.y, o[2] = q.z, o[3] = q.w;
      return;
    }
    if (dt == DType::kFloat16 && aligned_bytes(p, 8)) {
      const uint2 q = *reinterpret_cast<const uint2*>(static_cast<const __half*>(p) + off);
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&q.x));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&q.y));
      o[0] = a.x, o[1] = a.y, o[2] = b.x, o[3] = b.y;
      return;
    }
    if (dt == DType::kBFloat16 && aligned_bytes(p, 8)) {
      const uint2 q = *reinterpret_cast<const uint2*>(static_cast<const __nv_bfloat16*>(p) + off);
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.x));
      const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.y));
      o[0] = a.x, o[1] = a.y, o[2] = b.x, o[3] = b.y;
      return;
    }
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) o[e] = load_input(p, dt, off + e * inner);
}

// Stores four consecutive outputs at y + i (i % 4 == 0), as one access when y is aligned.
template <typename T, typename Idx>
__device__ __forceinline__ void store4(T* y, Idx i, const float (&r)[4]) {
  if constexpr (sizeof(T) == 2) {
    if (aligned_bytes(y, 8)) {
      uint2 q;
      if constexpr (std::is_same_v<T, __half>) {
        *reinterpret_cast<__half2*>(&q.x) = __floats2half2_rn(r[0], r[1]);
        *reinterpret_cast<__half2*>(&q.y) = __floats2half2_rn(r[2], r[3]);
      } else {
        *reinterpret_cast<__nv_bfloat162*>(&q.x) = __floats2bfloat162_rn(r[0], r[1]);
        *reinterpret_cast<__nv_bfloat162*>(&q.y) = __floats2bfloat162_rn(r[2], r[3]);
      }
      *reinterpret_cast<uint2*>(y + i) = q;
      return;
    }
  } else {
    if (aligned_bytes(y, 16)) {
      *reinterpret_cast<float4*>(y + i) = make_float4(r[0], r[1], r[2], r[3]);
      return;
    }
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) y[i + e] = from_f32<T>(r[e]);
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

// Each thread computes V consecutive outputs. V > 1 (4) only when V divides the innermost collapsed dim, so the V
// elements share their outer offsets and step through each input by its innermost stride (0 or 1).
template <typename T, typename Idx, int V, bool kChain>
__global__ void fused_elementwise_kernel(const __grid_constant__ FusedProgram prog,
                                         const __grid_constant__ FusedInputs in, T* __restrict__ y, Idx groups) {
  static_assert(V == 1 || V == 4, "groups of 1 or 4 outputs");
  Idx inner[kMaxFusedInputs];
#pragma unroll
  for (int k = 0; k < kMaxFusedInputs; ++k)
    inner[k] = in.all_contiguous || in.desc.rank == 0 ? Idx(1) : static_cast<Idx>(in.desc.strides[k][in.desc.rank - 1]);
  for (Idx g = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<Idx>(blockDim.x) * gridDim.x) {
    const Idx i0 = g * V;
    Idx off[kMaxFusedInputs];
    input_offsets<Idx>(in, i0, off);
    float x[kMaxFusedInputs][V];
    float r[V];
    if constexpr (V == 4) {
#pragma unroll
      for (int k = 0; k < kMaxFusedInputs; ++k)
        if (k < in.count) load4<Idx>(in.ptr[k], in.dtype[k], off[k], inner[k], x[k]);
      run_program<kChain, V>(prog, x, r);
      store4<T, Idx>(y, i0, r);
    } else {
#pragma unroll
      for (int k = 0; k < kMaxFusedInputs; ++k)
        if (k < in.count) x[k][0] = load_input(in.ptr[k], in.dtype[k], off[k]);
      run_program<kChain, V>(prog, x, r);
      y[i0] = from_f32<T>(r[0]);
    }
  }
}

// True when every step reads only inputs, constants and the step just before it.
bool is_chain(const FusedProgram& prog) {
  for (int j = 0; j < prog.num_steps; ++j)
    for (const FusedOperand& o : prog.steps[j].args)
      if (o.kind == 1 && o.index != j - 1) return false;
  return true;
}

template <typename T, bool kChain>
void launch_grouped(const FusedProgram& prog, const FusedInputs& in, T* y, int64_t n, bool small, cudaStream_t s) {
  constexpr int kV = 4;
  const int64_t innermost = in.all_contiguous ? n : in.desc.rank > 0 ? in.desc.dims[in.desc.rank - 1] : 1;
  const bool grouped = innermost % kV == 0 && n % kV == 0;
  if (grouped && small) {
    fused_elementwise_kernel<T, int32_t, kV, kChain>
        <<<grid_for(n / kV), kThreads, 0, s>>>(prog, in, y, int32_t(n / kV));
  } else if (small) {
    fused_elementwise_kernel<T, int32_t, 1, kChain><<<grid_for(n), kThreads, 0, s>>>(prog, in, y, int32_t(n));
  } else {
    fused_elementwise_kernel<T, int64_t, 1, kChain><<<grid_for(n), kThreads, 0, s>>>(prog, in, y, n);
  }
}

template <typename T>
void launch_typed(const FusedProgram& prog, const FusedInputs& in, T* y, int64_t n, cudaStream_t s) {
  constexpr int kV = 4;
  int64_t max_off = n;
  if (!in.all_contiguous)
    for (int k = 0; k < in.count; ++k) {
      int64_t o = 0;
      for (int r = 0; r < in.desc.rank; ++r) o += (in.desc.dims[r] - 1) * in.desc.strides[k][r];
      max_off = o + 1 > max_off ? o + 1 : max_off;
    }
  const bool small = max_off < (int64_t{1} << 31) - kV;
  if (is_chain(prog))
    launch_grouped<T, true>(prog, in, y, n, small, s);
  else
    launch_grouped<T, false>(prog, in, y, n, small, s);
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
