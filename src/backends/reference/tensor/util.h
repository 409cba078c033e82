// Helpers shared by the tensor-family reference kernels: dtype-agnostic element moves and input parsing.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/common.h"

namespace kiln {

// Copies one element of `src` (index si) to `dst` (index di); both must have the same dtype. Works for every
// dtype: strings are copied as std::string, everything else as dtype_size bytes.
void copy_element(const Tensor& src, int64_t si, Tensor& dst, int64_t di);
// Copies `n` consecutive elements.
void copy_elements(const Tensor& src, int64_t si, Tensor& dst, int64_t di, int64_t n);

// Allocates an output tensor with a size check (error instead of abort for absurd user shapes).
Result<Tensor> alloc_output(const KernelContext& ctx, DType dtype, const Dims& dims);

// Error unless `dims` is a valid shape with a sane element count (guards index maps built before allocation).
Status check_output_numel(const KernelContext& ctx, const Dims& dims);

// Builds a tensor of `dims` whose element k is src[map[k]], or `fill[0]` where map[k] < 0 (fill may be null
// only when the map has no negative entries; a null fill gives zero / empty string).
Result<Tensor> gather_by_map(const KernelContext& ctx, const Tensor& src, const Dims& dims,
                             const std::vector<int64_t>& map, const Tensor* fill = nullptr);

// Reads input i (an integer tensor) as int64 values; error naming the input if it is not an integer tensor.
Status read_int_input(const KernelContext& ctx, size_t i, const char* what, std::vector<int64_t>* out);

// Multi-index of linear index `k` in `dims` (row-major).
void unravel_index(int64_t k, const Dims& dims, std::vector<int64_t>* idx);

// "[1,2,3]" for messages.
std::string ints_to_string(const std::vector<int64_t>& v);

// A scalar tensor of `dtype` holding `v` (numeric and bool dtypes; rounds for narrow floats).
Result<Tensor> make_scalar(const KernelContext& ctx, DType dtype, double v);

// Three-way comparison of elements i and j of a numeric or string tensor (NaN sorts above everything).
int compare_elements(const Tensor& a, int64_t i, const Tensor& b, int64_t j);

}  // namespace kiln
