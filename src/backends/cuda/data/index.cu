// Device code of the CUDA indexing kernels: Gather, GatherElements, GatherND, ScatterElements, ScatterND.
// Out-of-range indices read zeros / are skipped (device code cannot report them; the host validates
// constant index tensors).
#include "backends/cuda/data/data_launch.h"
#include "backends/cuda/device_common.cuh"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ int64_t load_index(const void* idx, bool idx64, int64_t i) {
  return idx64 ? static_cast<const int64_t*>(idx)[i] : static_cast<int64_t>(static_cast<const int32_t*>(idx)[i]);
}

// Index made non-negative; -1 when outside [-dim, dim).
__device__ __forceinline__ int64_t fix_index(int64_t v, int64_t dim) {
  if (v < -dim || v >= dim) return -1;
  return v < 0 ? v + dim : v;
}

template <typename E>
__global__ void gather_kernel(const E* __restrict__ data, const void* __restrict__ idx, bool idx64, E* __restrict__ out,
                              int64_t axis_dim, int64_t num_idx, int64_t inner, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t in_pos = i % inner;
    const int64_t t = i / inner;
    const int64_t j = t % num_idx;
    const int64_t o = t / num_idx;
    const int64_t k = fix_index(load_index(idx, idx64, j), axis_dim);
    out[i] = k < 0 ? E{} : data[(o * axis_dim + k) * inner + in_pos];
  }
}

// Data offset of index element i (coordinates over idx_dims, axis coordinate from idx); -1 if out of range.
__device__ __forceinline__ int64_t elements_offset(const ElementsDesc& d, const void* idx, bool idx64, int64_t i) {
  int64_t rem = i, off = 0;
  for (int r = d.rank - 1; r >= 0; --r) {
    const int64_t q = rem / d.idx_dims[r];
    const int64_t c = rem - q * d.idx_dims[r];
    rem = q;
    if (r != d.axis) off += c * d.data_strides[r];
  }
  const int64_t k = fix_index(load_index(idx, idx64, i), d.axis_dim);
  if (k < 0) return -1;
  return off + k * d.data_strides[d.axis];
}

template <typename E>
__global__ void gather_elements_kernel(const E* __restrict__ data, const void* __restrict__ idx, bool idx64,
                                       E* __restrict__ out, ElementsDesc d, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t off = elements_offset(d, idx, idx64, i);
    out[i] = off < 0 ? E(0) : data[off];
  }
}

template <typename T>
__device__ __forceinline__ void add_to(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> ||
                       std::is_same_v<T, int32_t>) {
    atomicAdd(p, v);
  } else {
    *p = v;  // byte-moving instantiations are only launched with reduction none
  }
}

template <typename T>
__global__ void scatter_elements_kernel(T* __restrict__ out, const void* __restrict__ idx, bool idx64,
                                        const T* __restrict__ upd, ElementsDesc d, int64_t n, int reduction) {
  KILN_GRID_LOOP(i, n) {
    const int64_t off = elements_offset(d, idx, idx64, i);
    if (off < 0) continue;
    if (reduction == 1) {
      add_to(out + off, upd[i]);
    } else {
      out[off] = upd[i];
    }
  }
}

__device__ __forceinline__ int64_t nd_offset(const NdDesc& d, const void* idx, bool idx64, int64_t g) {
  int64_t off = (g / d.tuples_per_batch) * d.batch_stride;
  for (int j = 0; j < d.k; ++j) {
    const int64_t v = fix_index(load_index(idx, idx64, g * d.k + j), d.dims[j]);
    if (v < 0) return -1;
    off += v * d.strides[j];
  }
  return off;
}

template <typename E>
__global__ void gather_nd_kernel(const E* __restrict__ data, const void* __restrict__ idx, bool idx64,
                                 E* __restrict__ out, NdDesc d, int64_t n) {
  KILN_GRID_LOOP(i, n) {
    const int64_t g = i / d.slice, s = i - g * d.slice;
    const int64_t off = nd_offset(d, idx, idx64, g);
    out[i] = off < 0 ? E(0) : data[off + s];
  }
}

template <typename T>
__global__ void scatter_nd_kernel(T* __restrict__ out, const void* __restrict__ idx, bool idx64,
                                  const T* __restrict__ upd, NdDesc d, int64_t n, int reduction) {
  KILN_GRID_LOOP(i, n) {
    const int64_t g = i / d.slice, s = i - g * d.slice;
    const int64_t off = nd_offset(d, idx, idx64, g);
    if (off < 0) continue;
    if (reduction == 1) {
      add_to(out + off + s, upd[i]);
    } else {
      out[off + s] = upd[i];
    }
  }
}

}  // namespace

cudaError_t launch_gather(size_t es, const void* data, const void* idx, bool idx64, void* out, int64_t outer,
                          int64_t axis_dim, int64_t num_idx, int64_t inner, cudaStream_t s) {
  // Rows of whole 16-byte chunks (an embedding table's) move as uint4: 8x fewer threads and index computations.
  const int64_t row_bytes = inner * static_cast<int64_t>(es);
  const auto addr_bits = reinterpret_cast<uintptr_t>(data) | reinterpret_cast<uintptr_t>(out);
  if (es < 16 && row_bytes % 16 == 0 && (addr_bits & 15u) == 0) {
    const int64_t chunks = row_bytes / 16, n = outer * num_idx * chunks;
    gather_kernel<uint4><<<grid_for(n), kThreads, 0, s>>>(static_cast<const uint4*>(data), idx, idx64,
                                                          static_cast<uint4*>(out), axis_dim, num_idx, chunks, n);
    return cudaGetLastError();
  }
  const int64_t n = outer * num_idx * inner;
#define KILN_BODY                                                                                                  \
  gather_kernel<E><<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(data), idx, idx64, static_cast<E*>(out), \
                                                    axis_dim, num_idx, inner, n);                                  \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_gather_elements(size_t es, const void* data, const void* idx, bool idx64, void* out,
                                   const ElementsDesc& d, int64_t n, cudaStream_t s) {
#define KILN_BODY                                                                                             \
  gather_elements_kernel<E>                                                                                   \
      <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(data), idx, idx64, static_cast<E*>(out), d, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

cudaError_t launch_gather_nd(size_t es, const void* data, const void* idx, bool idx64, void* out, const NdDesc& d,
                             int64_t num_tuples, cudaStream_t s) {
  const int64_t n = num_tuples * d.slice;
#define KILN_BODY                                                                                             \
  gather_nd_kernel<E>                                                                                         \
      <<<grid_for(n), kThreads, 0, s>>>(static_cast<const E*>(data), idx, idx64, static_cast<E*>(out), d, n); \
  return cudaGetLastError();
  KILN_ELEM_SWITCH(es, KILN_BODY)
#undef KILN_BODY
}

#define KILN_SCATTER_TYPED(KERNEL, ...)                                                                            \
  if (reduction == 0) {                                                                                            \
    switch (dtype_size(dt)) {                                                                                      \
      case 1:                                                                                                      \
        KERNEL<uint8_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<uint8_t*>(out), idx, idx64,                   \
                                                         static_cast<const uint8_t*>(upd), __VA_ARGS__);           \
        return cudaGetLastError();                                                                                 \
      case 2:                                                                                                      \
        KERNEL<uint16_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<uint16_t*>(out), idx, idx64,                 \
                                                          static_cast<const uint16_t*>(upd), __VA_ARGS__);         \
        return cudaGetLastError();                                                                                 \
      case 4:                                                                                                      \
        KERNEL<uint32_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<uint32_t*>(out), idx, idx64,                 \
                                                          static_cast<const uint32_t*>(upd), __VA_ARGS__);         \
        return cudaGetLastError();                                                                                 \
      case 8:                                                                                                      \
        KERNEL<uint64_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<uint64_t*>(out), idx, idx64,                 \
                                                          static_cast<const uint64_t*>(upd), __VA_ARGS__);         \
        return cudaGetLastError();                                                                                 \
      default:                                                                                                     \
        return cudaErrorInvalidValue;                                                                              \
    }                                                                                                              \
  }                                                                                                                \
  switch (dt) {                                                                                                    \
    case DType::kFloat32:                                                                                          \
      KERNEL<float><<<grid_for(n), kThreads, 0, s>>>(static_cast<float*>(out), idx, idx64,                         \
                                                     static_cast<const float*>(upd), __VA_ARGS__);                 \
      return cudaGetLastError();                                                                                   \
    case DType::kFloat16:                                                                                          \
      KERNEL<__half><<<grid_for(n), kThreads, 0, s>>>(static_cast<__half*>(out), idx, idx64,                       \
                                                      static_cast<const __half*>(upd), __VA_ARGS__);               \
      return cudaGetLastError();                                                                                   \
    case DType::kBFloat16:                                                                                         \
      KERNEL<__nv_bfloat16><<<grid_for(n), kThreads, 0, s>>>(static_cast<__nv_bfloat16*>(out), idx, idx64,         \
                                                             static_cast<const __nv_bfloat16*>(upd), __VA_ARGS__); \
      return cudaGetLastError();                                                                                   \
    case DType::kInt32:                                                                                            \
      KERNEL<int32_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<int32_t*>(out), idx, idx64,                     \
                                                       static_cast<const int32_t*>(upd), __VA_ARGS__);             \
      return cudaGetLastError();                                                                                   \
    case DType::kInt64:                                                                                            \
      KERNEL<int64_t><<<grid_for(n), kThreads, 0, s>>>(static_cast<int64_t*>(out), idx, idx64,                     \
                                                       static_cast<const int64_t*>(upd), __VA_ARGS__);             \
      return cudaGetLastError();                                                                                   \
    default:                                                                                                       \
      return cudaErrorInvalidValue;                                                                                \
  }

cudaError_t launch_scatter_elements(DType dt, void* out, const void* idx, bool idx64, const void* upd,
                                    const ElementsDesc& d, int64_t n, int reduction,
                                    cudaStream_t s){KILN_SCATTER_TYPED(scatter_elements_kernel, d, n, reduction)}

cudaError_t launch_scatter_nd(DType dt, void* out, const void* idx, bool idx64, const void* upd, const NdDesc& d,
                              int64_t num_tuples, int reduction, cudaStream_t s) {
  const int64_t n = num_tuples * d.slice;
  KILN_SCATTER_TYPED(scatter_nd_kernel, d, n, reduction)
}

}  // namespace kiln::cuda
