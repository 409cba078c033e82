// Device code of the CUDA kernels that pad, generate or accumulate: Pad, Range, Trilu, EyeLike, OneHot, CumSum.
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

// Source index of output coordinate i on a padded axis of n input elements; -1 for the constant fill.
__device__ __forceinline__ int64_t pad_source(int64_t i, int64_t begin, int64_t n, int mode) {
  int64_t s = i - begin;
  if (s >= 0 && s < n) return s;
  switch (mode) {
    case 0:
      return -1;
    case 2:
      return s < 0 ? 0 : n - 1;
    case 3:
      return ((s % n) + n) % n;
    default: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      s = ((s % period) + period) % period;
      return s >= n ? period - s : s;
    }
  }
}

template <typename E>
__global__ void pad_kernel(const E* __restrict__ in, E* __restrict__ out, PadDesc d, int mode, E value, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    int64_t rem = i, off = 0, stride = 1;
    bool fill = false;
    for (int r = d.rank - 1; r >= 0; --r) {
      const int64_t q = rem / d.out_dims[r];
      const int64_t c = rem - q * d.out_dims[r];
      rem = q;
      const int64_t s = pad_source(c, d.pad_begin[r], d.in_dims[r], mode);
      if (s < 0) fill = true;
      off += s * stride;
      stride *= d.in_dims[r];
    }
    out[i] = fill ? value : in[off];
  }
}

// Constant padding at the end of the last axis only (channels-last channel padding): one division per element.
template <typename E>
__global__ void pad_last_axis_kernel(const E* __restrict__ in, E* __restrict__ out, int64_t in_len, int64_t out_len,
                                     E value, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t row = i / out_len, c = i - row * out_len;
    out[i] = c < in_len ? in[row * in_len + c] : value;
  }
}

// The same for 16-bit elements padded to rows of exactly 8 (16 bytes): one thread per row, one 16-byte store.
__global__ void pad_rows_to_8x16bit(const uint16_t* __restrict__ in, uint4* __restrict__ out, int in_len,
                                    uint16_t value, int64_t rows) {
  KILN_GRID_LOOP(r, rows) {
    uint16_t v[8];
    for (int c = 0; c < 8; ++c) v[c] = c < in_len ? in[r * in_len + c] : value;
    out[r] = *reinterpret_cast<const uint4*>(v);
  }
}

template <typename T>
__global__ void range_kernel(T* out, int64_t n, double start, double delta, int64_t istart, int64_t idelta) {
  KILN_GRID_LOOP(i, n) {
    if constexpr (std::is_same_v<T, double>) {
      out[i] = start + static_cast<double>(i) * delta;
    } else if constexpr (std::is_same_v<T, float>) {
      out[i] = static_cast<float>(start) +
               static_cast<float>(i) * static_cast<float>(delta);  // float math, like the reference
    } else if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
      out[i] = from_f32<T>(static_cast<float>(start + static_cast<double>(i) * delta));
    } else {
      out[i] = static_cast<T>(static_cast<T>(istart) + static_cast<T>(i) * static_cast<T>(idelta));
    }
  }
}

template <typename E>
__global__ void trilu_kernel(const E* __restrict__ in, E* __restrict__ out, int64_t rows, int64_t cols, int64_t k,
                             bool upper, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t j = i % cols;
    const int64_t r = (i / cols) % rows;
    const bool keep = upper ? (j - r >= k) : (j - r <= k);
    out[i] = keep ? in[i] : E(0);
  }
}

template <typename T>
__global__ void eye_kernel(T* out, int64_t rows, int64_t cols, int64_t k, T one, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t j = i % cols, r = i / cols;
    out[i] = j - r == k ? one : T(0);
  }
}

__device__ __forceinline__ double load_as_double(DType dt, const void* p, int64_t i) {
  switch (dt) {
    case DType::kFloat32:
      return static_cast<const float*>(p)[i];
    case DType::kFloat64:
      return static_cast<const double*>(p)[i];
    case DType::kInt32:
      return static_cast<const int32_t*>(p)[i];
    case DType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::kFloat16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case DType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return 0;
  }
}

template <typename E>
__global__ void one_hot_kernel(DType idx_dt, const void* __restrict__ idx, E* __restrict__ out, int64_t depth,
                               int64_t inner, E off_v, E on_v, int64_t n) {
  KILN_GRID_LOOP(k, n) {
    const int64_t pos = (k / inner) % depth;
    const int64_t outer = k / (inner * depth);
    int64_t v;
    if (idx_dt == DType::kInt64) {
      v = static_cast<const int64_t*>(idx)[outer * inner + k % inner];
    } else {
      const double d = load_as_double(idx_dt, idx, outer * inner + k % inner);
      v = isfinite(d) && fabs(d) < 1e18 ? static_cast<int64_t>(d) : -2 * depth;
    }
    if (v < 0) v += depth;
    out[k] = v == pos ? on_v : off_v;
  }
}

// One thread per (outer, inner) line: a sequential scan along len (simple; lines are independent).
template <typename T>
__global__ void cumsum_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t outer, int64_t len, int64_t inner,
                              bool exclusive, bool reverse) {
  using C = std::conditional_t<std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, float, T>;
  using U = typename UIntOf<sizeof(C)>::type;
  KILN_GRID_LOOP(line, outer * inner) {
    const int64_t o = line / inner, i = line % inner;
    C acc = C(0);
    for (int64_t s = 0; s < len; ++s) {
      const int64_t j = reverse ? len - 1 - s : s;
      const int64_t off = (o * len + j) * inner + i;
      C x;
      if constexpr (std::is_same_v<C, float> && !std::is_same_v<T, float>)
        x = to_f32(in[off]);
      else
        x = in[off];
      C next;
      if constexpr (std::is_integral_v<C>)
        next = static_cast<C>(static_cast<U>(acc) + static_cast<U>(x));
      else
        next = acc + x;
      C w = exclusive ? acc : next;
      if constexpr (std::is_same_v<C, float> && !std::is_same_v<T, float>)
        out[off] = from_f32<T>(w);
      else
        out[off] = w;
      acc = next;
    }
  }
}

}  // namespace

cudaError_t launch_pad(size_t es, const void* in, void* out, const PadDesc& d, int mode, const void* value, int64_t n,
                       cudaStream_t s) {
  bool last_axis_end_only = mode == 0 && d.rank > 0 && d.in_dims[d.rank - 1] <= d.out_dims[d.rank - 1];
  for (int r = 0; r < d.rank && last_axis_end_only; ++r)
    last_axis_end_only = d.pad_begin[r] == 0 && (r == d.rank - 1 || d.in_dims[r] == d.out_dims[r]);
  if (last_axis_end_only && es == 2 && d.out_dims[d.rank - 1] == 8 && reinterpret_cast<uintptr_t>(out) % 16 == 0) {
    uint16_t v;
    memcpy(&v, value, sizeof(v));
    const int64_t rows = n / 8;
    pad_rows_to_8x16bit<<<grid_for(rows), kThreads, 0, s>>>(static_cast<const uint16_t*>(in), static_cast<uint4*>(out),
                                                            static_cast<int>(d.in_dims[d.rank - 1]), v, rows);
    return cudaGetLastError();
  }
  if (last_axis_end_only) {
#define KILN_BODY                                                                                                \
  E v;                                                                                                           \
  memcpy(&v, value, sizeof(E));                                                                                  \
  pad_last_axis_kernel<E><<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out),      \
                                                           d.in_dims[d.rank - 1], d.out_dims[d.rank - 1], v, n); \
  return cudaGetLastError();
    KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
  }
  if (pad_by_rows_applies(d, mode)) return launch_pad_constant_rows(es, in, out, d, value, n, s);
#define KILN_BODY                                                                                                 \
  E v;                                                                                                            \
  memcpy(&v, value, sizeof(E));                                                                                   \
  pad_kernel<E><<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), d, mode, v, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_range(DType dt, void* out, int64_t n, double start, double delta, int64_t istart, int64_t idelta,
                         cudaStream_t s) {
  switch (dt) {
#define KILN_RANGE_CASE(kind, T)                                                                             \
  case DType::kind:                                                                                          \
    range_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(out), n, start, delta, istart, idelta); \
    return cudaGetLastError();
    KILN_RANGE_CASE(kFloat32, float)
    KILN_RANGE_CASE(kFloat64, double)
    KILN_RANGE_CASE(kFloat16, __half)
    KILN_RANGE_CASE(kBFloat16, __nv_bfloat16)
    KILN_RANGE_CASE(kInt32, int32_t)
    KILN_RANGE_CASE(kInt64, int64_t)
    KILN_RANGE_CASE(kInt16, int16_t)
    KILN_RANGE_CASE(kInt8, int8_t)
    KILN_RANGE_CASE(kUInt8, uint8_t)
#undef KILN_RANGE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_trilu(size_t es, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols, int64_t k,
                         bool upper, cudaStream_t s) {
  const int64_t n = batch * rows * cols;
#define KILN_BODY                                                                                                  \
  trilu_kernel<E>                                                                                                  \
      <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(in), static_cast<E*>(out), rows, cols, k, upper, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_eye(DType dt, void* out, int64_t rows, int64_t cols, int64_t k, cudaStream_t s) {
  const int64_t n = rows * cols;
  switch (dt) {
#define KILN_EYE_CASE(kind, T, one)                                                              \
  case DType::kind:                                                                              \
    eye_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(out), rows, cols, k, one, n); \
    return cudaGetLastError();
    KILN_EYE_CASE(kFloat32, float, 1.f)
    KILN_EYE_CASE(kFloat64, double, 1.0)
    KILN_EYE_CASE(kFloat16, uint16_t, uint16_t{0x3c00})
    KILN_EYE_CASE(kBFloat16, uint16_t, uint16_t{0x3f80})
    KILN_EYE_CASE(kInt32, int32_t, 1)
    KILN_EYE_CASE(kInt64, int64_t, 1)
    KILN_EYE_CASE(kInt16, int16_t, int16_t{1})
    KILN_EYE_CASE(kInt8, int8_t, int8_t{1})
    KILN_EYE_CASE(kUInt8, uint8_t, uint8_t{1})
    KILN_EYE_CASE(kBool, uint8_t, uint8_t{1})
#undef KILN_EYE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_one_hot(size_t es, DType idx_dt, const void* idx, void* out, int64_t outer, int64_t depth,
                           int64_t inner, const void* off_value, const void* on_value, cudaStream_t s) {
  const int64_t n = outer * depth * inner;
#define KILN_BODY                                                                                                      \
  E off_v, on_v;                                                                                                       \
  memcpy(&off_v, off_value, sizeof(E));                                                                                \
  memcpy(&on_v, on_value, sizeof(E));                                                                                  \
  one_hot_kernel<E><<<grid_for(n), kThreads, 0, s>>>(idx_dt, idx, static_cast<E*>(out), depth, inner, off_v, on_v, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_cumsum(DType dt, const void* in, void* out, int64_t outer, int64_t len, int64_t inner,
                          bool exclusive, bool reverse, cudaStream_t s) {
  const int64_t lines = outer * inner;
  switch (dt) {
#define KILN_CUMSUM_CASE(kind, T)                                                                                      \
  case DType::kind:                                                                                                    \
    cumsum_kernel<T><<<grid_for(lines), kThreads, 0, s>>>(static_cast<const T*>(in), static_cast<T*>(out), outer, len, \
                                                          inner, exclusive, reverse);                                  \
    return cudaGetLastError();
    KILN_CUMSUM_CASE(kFloat32, float)
    KILN_CUMSUM_CASE(kFloat16, __half)
    KILN_CUMSUM_CASE(kBFloat16, __nv_bfloat16)
    KILN_CUMSUM_CASE(kInt32, int32_t)
    KILN_CUMSUM_CASE(kInt64, int64_t)
#undef KILN_CUMSUM_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda
