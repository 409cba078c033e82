// Host helpers of the norm family: axis handling, dtype checks at build time, and broadcasting parameters.
#pragma once
#include <string>
#include <vector>

#include "backends/cuda/kernel.h"
#include "backends/cuda/norm/launch.h"

namespace kiln::cuda::norm {

// Maps axis in [-rank, rank) to [0, rank); false when out of range.
bool normalize_axis(int64_t axis, int64_t rank, int64_t* out);

// Build-time check: input i's inferred dtype is unknown or satisfies `ok`.
bool input_dtype_ok(const std::vector<const TypeInfo*>& types, size_t i, bool (*ok)(DType));
// Build-time check: input i's inferred dtype is a float dtype the CUDA kernels take (or unknown).
bool input_is_float_or_unknown(const std::vector<const TypeInfo*>& types, size_t i);

std::string dims_str(const Dims& d);

// Broadcast parameters (LayerNorm Scale/B): input `i` must unidirectionally broadcast to `target`, else an error
// naming the node. broadcast_param_bytes gives the scratch a dense copy needs (0 when the input already has
// target's elements in order); broadcast_param returns the input itself or that copy written into `scratch`.
// The context's workspace is one buffer per call, so callers take one workspace for all their copies.
Result<size_t> broadcast_param_bytes(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target);
Result<const void*> broadcast_param(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target,
                                    void* scratch);

// Reduction geometry from input dims and per-axis reduced flags: size-1 dims dropped, adjacent runs merged; the
// [outer, len, inner] view when at most one reduced run remains, else the general run lists. False when more
// than kMaxReduceRuns kept or reduced runs remain.
bool plan_reduce_geometry(const Dims& dims, const std::vector<bool>& reduced, ReduceGeometry* g);

}  // namespace kiln::cuda::norm
