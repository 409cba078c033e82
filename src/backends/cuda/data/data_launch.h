// Launch functions of the CUDA data-movement kernels (device code in copy.cu, concat_rows.cu, index.cu,
// generate.cu).
// Kernels move elements by size (1, 2, 4 or 8 bytes), so they serve every fixed-size dtype.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/elementwise/broadcast.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

// out[i] = in[base + sum_r c_r * strides[r]] where c is i's multi-index over dims (rank <= 8) and, when
// mods[r] > 0, c_r is first taken modulo mods[r] (Tile).
struct StridedDesc {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  int64_t mods[kMaxDims] = {};
  int64_t base = 0;
};
cudaError_t launch_strided_copy(size_t elem_size, const void* in, void* out, const StridedDesc& d, int64_t n,
                                cudaStream_t stream);

// Concat of k inputs viewed as [rows, row_bytes[j]] into out [rows, sum of row_bytes] (device code in
// concat_rows.cu): one launch per kConcatGroup inputs, moving the widest vectors (16 bytes down to 1) that every row
// width and address allows. An input with a zero-byte row is skipped.
constexpr int kConcatGroup = 8;
cudaError_t launch_concat_rows(void* out, const void* const* srcs, const int64_t* row_bytes, int k, int64_t rows,
                               cudaStream_t stream);

// in [batch, rows, cols] -> out [batch, cols, rows] through shared-memory tiles.
cudaError_t launch_transpose_tiled(size_t elem_size, const void* in, void* out, int64_t batch, int64_t rows,
                                   int64_t cols, cudaStream_t stream);

// Fills n elements with the elem_size bytes at `value` (host memory, copied by value).
cudaError_t launch_fill(size_t elem_size, void* out, int64_t n, const void* value, cudaStream_t stream);

// Gather along an axis: out[o, j, i] = data[o, idx[j], i] (data viewed [outer, axis_dim, inner], idx of
// num_idx int32/int64 entries, negative ones counted from the end). Out-of-range indices write zeros.
cudaError_t launch_gather(size_t elem_size, const void* data, const void* idx, bool idx64, void* out, int64_t outer,
                          int64_t axis_dim, int64_t num_idx, int64_t inner, cudaStream_t stream);

// Index tensor shape for GatherElements/ScatterElements: rank, dims of the index tensor, strides of the data.
struct ElementsDesc {
  int rank = 0;
  int axis = 0;
  int64_t idx_dims[kMaxDims] = {};
  int64_t data_strides[kMaxDims] = {};
  int64_t axis_dim = 0;
};
// out[i] = data[i's coordinates with coordinate `axis` replaced by idx[i]] (out has idx's shape).
cudaError_t launch_gather_elements(size_t elem_size, const void* data, const void* idx, bool idx64, void* out,
                                   const ElementsDesc& d, int64_t n, cudaStream_t stream);
// out (already a copy of data) [position of upd[i] with coordinate `axis` = idx[i]] = / += upd[i].
// reduction: 0 none, 1 add (add needs a float32/16/bf16/int32/int64 dtype).
cudaError_t launch_scatter_elements(DType dtype, void* out, const void* idx, bool idx64, const void* upd,
                                    const ElementsDesc& d, int64_t n, int reduction, cudaStream_t stream);

// GatherND / ScatterND: tuples of k indices address slices of `slice` elements.
struct NdDesc {
  int k = 0;
  int64_t dims[kMaxDims] = {};     // data dims batch_dims .. batch_dims+k-1 (for negative indices)
  int64_t strides[kMaxDims] = {};  // element strides of those dims
  int64_t slice = 1;               // elements per addressed slice
  int64_t tuples_per_batch = 1;    // index tuples per batch entry
  int64_t batch_stride = 0;        // data elements per batch entry
};
// out[g, s] = data[batch(g) * batch_stride + sum_j idx[g, j] * strides[j] + s] for num_tuples tuples g.
cudaError_t launch_gather_nd(size_t elem_size, const void* data, const void* idx, bool idx64, void* out,
                             const NdDesc& d, int64_t num_tuples, cudaStream_t stream);
// out (a copy of data)[sum_j idx[g, j] * strides[j] + s] = / += upd[g, s].
cudaError_t launch_scatter_nd(DType dtype, void* out, const void* idx, bool idx64, const void* upd, const NdDesc& d,
                              int64_t num_tuples, int reduction, cudaStream_t stream);

// Pad: out dims, per-dim leading pad (may be negative: cropping) and input dims; mode 0 constant,
// 1 reflect, 2 edge, 3 wrap; `value` is elem_size bytes on the host.
struct PadDesc {
  int rank = 0;
  int64_t out_dims[kMaxDims] = {};
  int64_t in_dims[kMaxDims] = {};
  int64_t pad_begin[kMaxDims] = {};
};
cudaError_t launch_pad(size_t elem_size, const void* in, void* out, const PadDesc& d, int mode, const void* value,
                       int64_t n, cudaStream_t stream);
// Constant Pad one output row (last axis) at a time, for rows of >= 32 elements (pad_rows.cu; launch_pad uses it).
bool pad_by_rows_applies(const PadDesc& d, int mode);
cudaError_t launch_pad_constant_rows(size_t elem_size, const void* in, void* out, const PadDesc& d, const void* value,
                                     int64_t n, cudaStream_t stream);

// Range: out[i] = start + i * delta (float32/16/bf16 compute in float32... float64 and ints natively).
cudaError_t launch_range(DType dtype, void* out, int64_t n, double start, double delta, int64_t istart, int64_t idelta,
                         cudaStream_t stream);

// Trilu over the last two dims [batch, rows, cols]: keeps j - i >= k (lower: j - i <= k), zeros the rest.
cudaError_t launch_trilu(size_t elem_size, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols,
                         int64_t k, bool upper, cudaStream_t stream);

// EyeLike: out [rows, cols] of `dtype`, ones where j - i == k.
cudaError_t launch_eye(DType dtype, void* out, int64_t rows, int64_t cols, int64_t k, cudaStream_t stream);

// OneHot: out [outer, depth, inner] = on where idx[outer, inner] (negative + depth) equals the depth position,
// else off; on/off are elem_size bytes on the host. Indices are read as float64/float32/int32/int64.
cudaError_t launch_one_hot(size_t elem_size, DType idx_dtype, const void* idx, void* out, int64_t outer, int64_t depth,
                           int64_t inner, const void* off_value, const void* on_value, cudaStream_t stream);

// CumSum over data viewed [outer, len, inner] (float32/16/bf16 in float32, int32/int64 wrap).
cudaError_t launch_cumsum(DType dtype, const void* in, void* out, int64_t outer, int64_t len, int64_t inner,
                          bool exclusive, bool reverse, cudaStream_t stream);

}  // namespace kiln::cuda
