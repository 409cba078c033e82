// Launch functions of the norm family's device code (*.cu), called by the host side (*.cc).
// Pointers are device memory; `dtype` is the element type of the float tensors (float32/float16/bfloat16).
// Each returns the launch's cudaError_t (configuration errors only; faults surface later on the stream).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::norm {

// Softmax/LogSoftmax over the middle axis of x viewed as [outer, len, inner].
cudaError_t launch_softmax(DType dtype, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, bool log,
                           cudaStream_t stream);

// FusedAddLayerNorm's float8 output: y (null: none) receives float8e4m3fn(Y / scale), Y as stored in x's dtype, the
// quotient rounded to x's dtype first when round_to_x; saturating (QuantizeLinear's semantics).
struct LayerNormFp8 {
  void* y = nullptr;
  float scale = 1.f;
  bool round_to_x = false;
};

// LayerNormalization (rms=false) or RMSNormalization (rms=true) of x viewed as [rows, cols]. scale/bias hold
// `cols` elements of dtype `param_dtype` (bias may be null); mean/inv_std (float32, `rows` each) may be null.
// `residual` (x's dtype, `residual_rows` rows of `cols`, or null) is added first: row r of x adds row
// r % residual_rows (FusedAddLayerNorm; the sum is formed in float32). y may be null when fp8.y is set.
cudaError_t launch_layer_norm(DType dtype, DType param_dtype, const void* x, const void* scale, const void* bias,
                              void* y, float* mean, float* inv_std, int64_t rows, int64_t cols, float epsilon, bool rms,
                              cudaStream_t stream, const void* residual = nullptr, int64_t residual_rows = 1,
                              LayerNormFp8 fp8 = {});

// GroupNormalization of x [n, c, spatial...]: groups of (c/groups)*spatial contiguous elements. scale/bias have
// `c` elements (per_channel) or `groups` elements.
cudaError_t launch_group_norm(DType dtype, DType param_dtype, const void* x, const void* scale, const void* bias,
                              void* y, int64_t n, int64_t c, int64_t spatial, int64_t groups, bool per_channel,
                              float epsilon, cudaStream_t stream);

// Copies `src` (rank <= 8 dims `src_dims`, numpy-broadcastable to `dst_dims` of the same rank) into the dense
// `dst` of shape dst_dims. Element size 1, 2, 4 or 8 bytes.
constexpr int kMaxBroadcastRank = 8;
cudaError_t launch_broadcast_copy(const void* src, void* dst, int elem_size, int rank, const int64_t* src_dims,
                                  const int64_t* dst_dims, cudaStream_t stream);

}  // namespace kiln::cuda::norm

namespace kiln::cuda::norm {

enum class ReduceKind : int { kL1, kL2, kLogSum, kLogSumExp, kMax, kMean, kMin, kProd, kSum, kSumSquare };

// A reduction after merging adjacent axes: either the [outer, len, inner] view (general == false; len is reduced)
// or, for patterns with several reduced runs, kept and reduced runs listed separately with input strides.
constexpr int kMaxReduceRuns = 8;
struct ReduceGeometry {
  bool general = false;
  int64_t outer = 1, len = 1, inner = 1;
  int num_kept = 0, num_reduced = 0;
  int64_t kept_size[kMaxReduceRuns], kept_stride[kMaxReduceRuns];
  int64_t red_size[kMaxReduceRuns], red_stride[kMaxReduceRuns];
  int64_t out_numel = 0, count = 0;  // count: input elements per output element
};

// Float dtypes take every kind (float32 accumulation); int32/int64 take kSum, kSumSquare, kL1, kProd, kMax and
// kMin with exact two's-complement wrap-around. cudaErrorInvalidValue for other combinations.
cudaError_t launch_reduce(ReduceKind kind, DType dtype, const void* x, void* y, const ReduceGeometry& g,
                          cudaStream_t stream);

// ArgMax/ArgMin over the middle axis of [outer, len, inner] into int64 indices. NaN counts as the largest value;
// ties pick the first index, or the last with select_last. Float dtypes, int32, int64.
cudaError_t launch_arg_reduce(DType dtype, const void* x, int64_t* y, int64_t outer, int64_t len, int64_t inner,
                              bool want_max, bool select_last, cudaStream_t stream);

}  // namespace kiln::cuda::norm

namespace kiln::cuda::norm {

// TopK along the middle axis of [outer, len, inner], len <= kTopKMaxLen: values (x's dtype) and int64 indices of
// [outer, k, inner], always sorted (largest first when `largest`), ties by lower index, NaN the largest value.
constexpr int64_t kTopKMaxLen = 4096;
cudaError_t launch_top_k(DType dtype, const void* x, void* values, int64_t* indices, int64_t outer, int64_t len,
                         int64_t inner, int64_t k, bool largest, cudaStream_t stream);

}  // namespace kiln::cuda::norm
