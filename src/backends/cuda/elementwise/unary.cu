// Device code of the elementwise unary kernels: one templated kernel per (dtype, op), 16-byte vectors on
// aligned tensors, grid-stride loops.
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/elementwise/unary.h"
#include "backends/cuda/elementwise/unary_math.cuh"

namespace kiln::cuda {

namespace {

template <typename T, UnaryOp OP>
__global__ void unary_float_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, UnaryParams p, bool vec) {
  constexpr int V = 16 / sizeof(T);
  int64_t start = 0;
  if (vec) {
    const int64_t nvec = n / V;
    KILN_GRID_LOOP(i, nvec) {
      uint4 raw = reinterpret_cast<const uint4*>(x)[i];
      T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
      for (int v = 0; v < V; ++v) e[v] = from_f32<T>(unary_float(OP, to_f32(e[v]), p));
      reinterpret_cast<uint4*>(y)[i] = raw;
    }
    start = nvec * V;
  }
  for (int64_t i = start + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    y[i] = from_f32<T>(unary_float(OP, to_f32(x[i]), p));
}

// Integer ops wrap like two's complement (Abs/Neg of the lowest value give the lowest value).
template <typename T, UnaryOp OP>
__global__ void unary_int_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, UnaryParams p) {
  using U = typename UIntOf<sizeof(T)>::type;
  KILN_GRID_LOOP(i, n) {
    T v = x[i];
    T r = v;
    if constexpr (OP == UnaryOp::kAbs) {
      r = v < 0 ? static_cast<T>(U(0) - static_cast<U>(v)) : v;
    } else if constexpr (OP == UnaryOp::kNeg) {
      r = static_cast<T>(U(0) - static_cast<U>(v));
    } else if constexpr (OP == UnaryOp::kSign) {
      r = v > 0 ? T(1) : (v < 0 ? T(-1) : T(0));
    } else if constexpr (OP == UnaryOp::kRelu) {
      r = v < 0 ? T(0) : v;
    } else if constexpr (OP == UnaryOp::kClip) {
      if (p.has_lo && v < static_cast<T>(p.ilo)) r = static_cast<T>(p.ilo);
      if (p.has_hi && r > static_cast<T>(p.ihi)) r = static_cast<T>(p.ihi);
    }
    y[i] = r;
  }
}

template <typename T, UnaryOp OP>
cudaError_t launch_float(const void* x, void* y, int64_t n, const UnaryParams& p, cudaStream_t s) {
  const bool vec = aligned16(x) && aligned16(y);
  const int64_t work = vec ? n / (16 / sizeof(T)) + 16 : n;
  unary_float_kernel<T, OP>
      <<<grid_for(work), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, p, vec);
  return cudaGetLastError();
}

template <UnaryOp OP>
cudaError_t launch_op(DType dt, const void* x, void* y, int64_t n, const UnaryParams& p, cudaStream_t s) {
  switch (dt) {
    case DType::kFloat32:
      return launch_float<float, OP>(x, y, n, p, s);
    case DType::kFloat16:
      return launch_float<__half, OP>(x, y, n, p, s);
    case DType::kBFloat16:
      return launch_float<__nv_bfloat16, OP>(x, y, n, p, s);
    default:
      break;
  }
  if constexpr (OP == UnaryOp::kAbs || OP == UnaryOp::kNeg || OP == UnaryOp::kSign || OP == UnaryOp::kRelu ||
                OP == UnaryOp::kClip) {
    if (dt == DType::kInt32) {
      unary_int_kernel<int32_t, OP>
          <<<grid_for(n), kThreads, 0, s>>>(static_cast<const int32_t*>(x), static_cast<int32_t*>(y), n, p);
      return cudaGetLastError();
    }
    if (dt == DType::kInt64) {
      unary_int_kernel<int64_t, OP>
          <<<grid_for(n), kThreads, 0, s>>>(static_cast<const int64_t*>(x), static_cast<int64_t*>(y), n, p);
      return cudaGetLastError();
    }
  }
  return cudaErrorInvalidValue;
}

__global__ void not_kernel(const uint8_t* x, uint8_t* y, int64_t n) { KILN_GRID_LOOP(i, n) y[i] = x[i] ? 0 : 1; }

template <typename T>
__global__ void classify_kernel(const T* x, uint8_t* y, int64_t n, int mode, bool pos, bool neg) {
  KILN_GRID_LOOP(i, n) {
    const float v = to_f32(x[i]);
    y[i] = mode == 0 ? (isnan(v) ? 1 : 0) : ((isinf(v) && ((v > 0 && pos) || (v < 0 && neg))) ? 1 : 0);
  }
}

cudaError_t launch_classify(DType dt, const void* x, uint8_t* y, int64_t n, int mode, bool pos, bool neg,
                            cudaStream_t s) {
  switch (dt) {
    case DType::kFloat32:
      classify_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const float*>(x), y, n, mode, pos, neg);
      break;
    case DType::kFloat16:
      classify_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const __half*>(x), y, n, mode, pos, neg);
      break;
    case DType::kBFloat16:
      classify_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(x), y, n, mode, pos, neg);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_unary(UnaryOp op, DType dt, const void* x, void* y, int64_t n, const UnaryParams& p,
                         cudaStream_t s) {
  switch (op) {
#define KILN_UNARY_CASE(name) \
  case UnaryOp::name:         \
    return launch_op<UnaryOp::name>(dt, x, y, n, p, s);
    KILN_UNARY_CASE(kAbs)
    KILN_UNARY_CASE(kNeg)
    KILN_UNARY_CASE(kExp)
    KILN_UNARY_CASE(kLog)
    KILN_UNARY_CASE(kSqrt)
    KILN_UNARY_CASE(kReciprocal)
    KILN_UNARY_CASE(kSin)
    KILN_UNARY_CASE(kCos)
    KILN_UNARY_CASE(kTan)
    KILN_UNARY_CASE(kTanh)
    KILN_UNARY_CASE(kAsin)
    KILN_UNARY_CASE(kAcos)
    KILN_UNARY_CASE(kAtan)
    KILN_UNARY_CASE(kSinh)
    KILN_UNARY_CASE(kCosh)
    KILN_UNARY_CASE(kAsinh)
    KILN_UNARY_CASE(kAcosh)
    KILN_UNARY_CASE(kAtanh)
    KILN_UNARY_CASE(kSigmoid)
    KILN_UNARY_CASE(kRelu)
    KILN_UNARY_CASE(kLeakyRelu)
    KILN_UNARY_CASE(kElu)
    KILN_UNARY_CASE(kSelu)
    KILN_UNARY_CASE(kCelu)
    KILN_UNARY_CASE(kErf)
    KILN_UNARY_CASE(kGelu)
    KILN_UNARY_CASE(kGeluTanh)
    KILN_UNARY_CASE(kSilu)
    KILN_UNARY_CASE(kSwish)
    KILN_UNARY_CASE(kSoftplus)
    KILN_UNARY_CASE(kSoftsign)
    KILN_UNARY_CASE(kHardSigmoid)
    KILN_UNARY_CASE(kHardSwish)
    KILN_UNARY_CASE(kMish)
    KILN_UNARY_CASE(kThresholdedRelu)
    KILN_UNARY_CASE(kFloor)
    KILN_UNARY_CASE(kCeil)
    KILN_UNARY_CASE(kRound)
    KILN_UNARY_CASE(kSign)
    KILN_UNARY_CASE(kClip)
#undef KILN_UNARY_CASE
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_not(const uint8_t* x, uint8_t* y, int64_t n, cudaStream_t s) {
  not_kernel<<<grid_for(n), kThreads, 0, s>>>(x, y, n);
  return cudaGetLastError();
}
cudaError_t launch_isnan(DType dt, const void* x, uint8_t* y, int64_t n, cudaStream_t s) {
  return launch_classify(dt, x, y, n, 0, false, false, s);
}
cudaError_t launch_isinf(DType dt, const void* x, uint8_t* y, int64_t n, bool pos, bool neg, cudaStream_t s) {
  return launch_classify(dt, x, y, n, 1, pos, neg, s);
}

}  // namespace kiln::cuda
