// Device code of the Reduce* ops. Float inputs accumulate in float32 (LogSumExp with an online max), int32/int64
// in int64 with wrap-around. Kernels: a warp or block per output row (reduced axis innermost), a thread per
// output column (kept axes inside the reduced one), and a generic thread-per-output kernel for other patterns.
#include <cstdint>

#include "backends/cuda/norm/device_util.cuh"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {
namespace {

constexpr float kInf = kInfF;

// Float reducer: `a` the running value, `m` the running maximum of LogSumExp.
template <ReduceKind K>
struct FloatReducer {
  float a, m;
  __device__ FloatReducer()
      : a(K == ReduceKind::kProd  ? 1.f
          : K == ReduceKind::kMax ? -kInf
          : K == ReduceKind::kMin ? kInf
                                  : 0.f),
        m(-kInf) {}
  __device__ void add(float v) {
    switch (K) {
      case ReduceKind::kL1:
        a += fabsf(v);
        break;
      case ReduceKind::kL2:
      case ReduceKind::kSumSquare:
        a += v * v;
        break;
      case ReduceKind::kProd:
        a *= v;
        break;
      case ReduceKind::kMax:
        a = nan_max(a, v);
        break;
      case ReduceKind::kMin:
        a = nan_min(a, v);
        break;
      case ReduceKind::kLogSumExp:
        if (v != v) {
          m = v;
        } else if (v > m) {
          a = a * expf(m - v) + 1.f;  // m == -inf gives a * 0
          m = v;
        } else if (v != -kInf) {
          a += expf(v - m);
        }
        break;
      default:
        a += v;
        break;
    }
  }
  __device__ void merge(const FloatReducer& o) {
    switch (K) {
      case ReduceKind::kProd:
        a *= o.a;
        break;
      case ReduceKind::kMax:
        a = nan_max(a, o.a);
        break;
      case ReduceKind::kMin:
        a = nan_min(a, o.a);
        break;
      case ReduceKind::kLogSumExp: {
        if (m != m || o.m != o.m) {
          m = m != m ? m : o.m;
          break;
        }
        const float mm = fmaxf(m, o.m);
        if (mm == -kInf) break;
        a = (m == -kInf ? 0.f : a * expf(m - mm)) + (o.m == -kInf ? 0.f : o.a * expf(o.m - mm));
        m = mm;
        break;
      }
      default:
        a += o.a;
        break;
    }
  }
  __device__ void shfl_merge(int offset) {
    FloatReducer o;
    o.a = __shfl_xor_sync(0xffffffffu, a, offset);
    o.m = __shfl_xor_sync(0xffffffffu, m, offset);
    merge(o);
  }
  __device__ float finish(int64_t count) const {
    switch (K) {
      case ReduceKind::kL2:
        return sqrtf(a);
      case ReduceKind::kLogSum:
        return logf(a);
      case ReduceKind::kMean:
        return a / static_cast<float>(count);
      case ReduceKind::kLogSumExp:
        if (count == 0) return -kInf;
        if (m != m || m == kInf || m == -kInf) return m;
        return m + logf(a);
      default:
        return a;
    }
  }
};

// Integer reducer in int64 with wrap-around (unsigned arithmetic); T's range sets Max/Min identities.
template <class T, ReduceKind K>
struct IntReducer {
  long long a;
  __device__ IntReducer()
      : a(K == ReduceKind::kProd  ? 1
          : K == ReduceKind::kMax ? static_cast<long long>(sizeof(T) == 4 ? INT32_MIN : INT64_MIN)
          : K == ReduceKind::kMin ? static_cast<long long>(sizeof(T) == 4 ? INT32_MAX : INT64_MAX)
                                  : 0) {}
  __device__ void add(long long v) {
    const unsigned long long ua = a, uv = v;
    switch (K) {
      case ReduceKind::kSumSquare:
        a = static_cast<long long>(ua + uv * uv);
        break;
      case ReduceKind::kL1:
        a = static_cast<long long>(ua + (v < 0 ? 0ull - uv : uv));
        break;
      case ReduceKind::kProd:
        a = static_cast<long long>(ua * uv);
        break;
      case ReduceKind::kMax:
        a = v > a ? v : a;
        break;
      case ReduceKind::kMin:
        a = v < a ? v : a;
        break;
      default:
        a = static_cast<long long>(ua + uv);
        break;
    }
  }
  __device__ void merge(const IntReducer& o) {
    const unsigned long long ua = a, uo = o.a;
    switch (K) {
      case ReduceKind::kProd:
        a = static_cast<long long>(ua * uo);
        break;
      case ReduceKind::kMax:
        a = o.a > a ? o.a : a;
        break;
      case ReduceKind::kMin:
        a = o.a < a ? o.a : a;
        break;
      default:
        a = static_cast<long long>(ua + uo);
        break;
    }
  }
  __device__ void shfl_merge(int offset) {
    IntReducer o;
    o.a = __shfl_xor_sync(0xffffffffu, a, offset);
    merge(o);
  }
  __device__ T finish(int64_t) const { return static_cast<T>(a); }
};

template <class T>
__device__ __forceinline__ float load_val(const T* p, float) {
  return to_f32(*p);
}
template <class T>
__device__ __forceinline__ long long load_val(const T* p, long long) {
  return static_cast<long long>(*p);
}
template <class T, class V>
__device__ __forceinline__ T store_val(V v);
template <>
__device__ __forceinline__ float store_val<float, float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half store_val<__half, float>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 store_val<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ int32_t store_val<int32_t, int32_t>(int32_t v) {
  return v;
}
template <>
__device__ __forceinline__ int64_t store_val<int64_t, int64_t>(int64_t v) {
  return v;
}

// V: the value type reducers take (float or long long).
template <class R>
using ValueOf = decltype(R().a);

template <class R>
__device__ __forceinline__ void warp_merge(R& r) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) r.shfl_merge(o);
}

template <class T, class R>
__global__ void reduce_rows_warp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t len) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const T* xr = x + row * len;
  R r;
  for (int64_t c = lane; c < len; c += 32) r.add(load_val(xr + c, ValueOf<R>()));
  warp_merge(r);
  if (lane == 0) y[row] = store_val<T>(r.finish(len));
}

template <class T, class R>
__global__ void reduce_rows_block(const T* __restrict__ x, T* __restrict__ y, int64_t len) {
  __shared__ alignas(R) unsigned char part_raw[32 * sizeof(R)];  // raw: R has a constructor
  R* part = reinterpret_cast<R*>(part_raw);
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * len;
  R r;
  for (int64_t c = threadIdx.x; c < len; c += blockDim.x) r.add(load_val(xr + c, ValueOf<R>()));
  warp_merge(r);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = r;
  __syncthreads();
  if (warp == 0) {
    R t = lane < static_cast<int>(blockDim.x >> 5) ? part[lane] : R();
    warp_merge(t);
    if (lane == 0) y[blockIdx.x] = store_val<T>(t.finish(len));
  }
}

template <class T, class R>
__global__ void reduce_columns(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t len, int64_t inner) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t o = t / inner, in = t % inner;
  const T* xc = x + o * len * inner + in;
  R r;
  for (int64_t j = 0; j < len; ++j) r.add(load_val(xc + j * inner, ValueOf<R>()));
  y[t] = store_val<T>(r.finish(len));
}

// Few long columns: a block of 32 columns x kSplit row groups; each thread folds every kSplit-th element of its
// column, then the groups are merged through shared memory.
constexpr int kSplit = 16;
template <class T, class R>
__global__ void reduce_columns_split(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t len,
                                     int64_t inner) {
  __shared__ alignas(R) unsigned char part_raw[kSplit * 32 * sizeof(R)];  // raw: R has a constructor
  R* part = reinterpret_cast<R*>(part_raw);
  const int64_t t = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  R r;
  if (t < outer * inner) {
    const int64_t o = t / inner, in = t % inner;
    const T* xc = x + o * len * inner + in;
    for (int64_t j = threadIdx.y; j < len; j += kSplit) r.add(load_val(xc + j * inner, ValueOf<R>()));
  }
  part[threadIdx.y * 32 + threadIdx.x] = r;
  __syncthreads();
  if (threadIdx.y == 0 && t < outer * inner) {
    R acc = part[threadIdx.x];
    for (int g = 1; g < kSplit; ++g) acc.merge(part[g * 32 + threadIdx.x]);
    y[t] = store_val<T>(acc.finish(len));
  }
}

template <class T, class R>
__global__ void reduce_general(const T* __restrict__ x, T* __restrict__ y, ReduceGeometry g) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= g.out_numel) return;
  int64_t base = 0, rem = t;
  for (int k = g.num_kept - 1; k >= 0; --k) {
    base += (rem % g.kept_size[k]) * g.kept_stride[k];
    rem /= g.kept_size[k];
  }
  R r;
  for (int64_t e = 0; e < g.count; ++e) {
    int64_t off = base, q = e;
    for (int k = g.num_reduced - 1; k >= 0; --k) {
      off += (q % g.red_size[k]) * g.red_stride[k];
      q /= g.red_size[k];
    }
    r.add(load_val(x + off, ValueOf<R>()));
  }
  y[t] = store_val<T>(r.finish(g.count));
}

template <class T, class R>
void launch_with(const T* x, T* y, const ReduceGeometry& g, cudaStream_t stream) {
  if (g.general) {
    reduce_general<T, R><<<ceil_div_u(g.out_numel, 256), 256, 0, stream>>>(x, y, g);
  } else if (g.inner != 1 && g.outer * g.inner <= 8192 && g.len >= 64) {
    reduce_columns_split<T, R>
        <<<ceil_div_u(g.outer * g.inner, 32), dim3(32, kSplit), 0, stream>>>(x, y, g.outer, g.len, g.inner);
  } else if (g.inner != 1) {
    reduce_columns<T, R><<<ceil_div_u(g.outer * g.inner, 256), 256, 0, stream>>>(x, y, g.outer, g.len, g.inner);
  } else if (g.len <= 4096 || g.outer >= 1024) {
    constexpr int kRowsPerBlock = 8;
    reduce_rows_warp<T, R><<<ceil_div_u(g.outer, kRowsPerBlock), kRowsPerBlock * 32, 0, stream>>>(x, y, g.outer, g.len);
  } else {
    reduce_rows_block<T, R><<<static_cast<unsigned>(g.outer), 1024, 0, stream>>>(x, y, g.len);
  }
}

template <class T>
bool launch_float(ReduceKind k, const void* xv, void* yv, const ReduceGeometry& g, cudaStream_t s) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  switch (k) {
#define KILN_REDUCE_CASE(K)                                  \
  case ReduceKind::K:                                        \
    launch_with<T, FloatReducer<ReduceKind::K>>(x, y, g, s); \
    return true;
    KILN_REDUCE_CASE(kL1)
    KILN_REDUCE_CASE(kL2)
    KILN_REDUCE_CASE(kLogSum)
    KILN_REDUCE_CASE(kLogSumExp)
    KILN_REDUCE_CASE(kMax)
    KILN_REDUCE_CASE(kMean)
    KILN_REDUCE_CASE(kMin)
    KILN_REDUCE_CASE(kProd)
    KILN_REDUCE_CASE(kSum)
    KILN_REDUCE_CASE(kSumSquare)
#undef KILN_REDUCE_CASE
  }
  return false;
}

template <class T>
bool launch_int(ReduceKind k, const void* xv, void* yv, const ReduceGeometry& g, cudaStream_t s) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  switch (k) {
#define KILN_REDUCE_CASE(K)                                   \
  case ReduceKind::K:                                         \
    launch_with<T, IntReducer<T, ReduceKind::K>>(x, y, g, s); \
    return true;
    KILN_REDUCE_CASE(kL1)
    KILN_REDUCE_CASE(kMax)
    KILN_REDUCE_CASE(kMin)
    KILN_REDUCE_CASE(kProd)
    KILN_REDUCE_CASE(kSum)
    KILN_REDUCE_CASE(kSumSquare)
#undef KILN_REDUCE_CASE
    default:
      return false;
  }
}

}  // namespace

cudaError_t launch_reduce(ReduceKind kind, DType dtype, const void* x, void* y, const ReduceGeometry& g,
                          cudaStream_t stream) {
  if (g.out_numel == 0) return cudaSuccess;
  bool ok = false;
  switch (dtype) {
    case DType::kFloat32:
      ok = launch_float<float>(kind, x, y, g, stream);
      break;
    case DType::kFloat16:
      ok = launch_float<__half>(kind, x, y, g, stream);
      break;
    case DType::kBFloat16:
      ok = launch_float<__nv_bfloat16>(kind, x, y, g, stream);
      break;
    case DType::kInt32:
      ok = launch_int<int32_t>(kind, x, y, g, stream);
      break;
    case DType::kInt64:
      ok = launch_int<int64_t>(kind, x, y, g, stream);
      break;
    default:
      break;
  }
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace kiln::cuda::norm
