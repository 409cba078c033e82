// Host helpers of the norm family: axis handling, dtype checks at build time, and broadcasting parameters.
#pragma once
#include <string>
#include <vector>

#include "backends/cuda/kernel.h"

namespace kiln::cuda::norm {

// Maps axis in [-rank, rank) to [0, rank); false when out of range.
bool normalize_axis(int64_t axis, int64_t rank, int64_t* out);

// Build-time check: input i's inferred dtype is unknown or satisfies `ok`.
bool input_dtype_ok(const std::vector<const TypeInfo*>& types, size_t i, bool (*ok)(DType));
// Build-time check: input i's inferred dtype is a float dtype the CUDA kernels take (or unknown).
bool input_is_float_or_unknown(const std::vector<const TypeInfo*>& types, size_t i);

std::string dims_str(const Dims& d);

// Input `i` as a dense device array of numel(target) elements: the input itself when its dims already equal
// `target` (after dropping leading 1s), otherwise a broadcast copy into workspace. Fails with a message
// naming the node when the input does not unidirectionally broadcast to `target`.
Result<const void*> broadcast_param(CudaKernelContext& ctx, size_t i, const char* name, const Dims& target);

}  // namespace kiln::cuda::norm
