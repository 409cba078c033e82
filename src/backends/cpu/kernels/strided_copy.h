// The copy engine behind Transpose, Slice, Expand and Tile: dst (row-major over `dims`) gets src elements at
// base + sum(idx[d] * strides[d]) (strides in elements; negative for reversed slices, 0 for broadcast dims).
// Dims are merged where possible; contiguous rows are memcpy'd, transposes run in cache-sized tiles.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::cpu::kern {

// elem: element size in bytes (1, 2, 4 or 8). threads: upper bound (the copy splits only when it is large).
void strided_copy(const void* src, int64_t base, const std::vector<int64_t>& strides, void* dst, const Dims& dims,
                  size_t elem, int threads);

}  // namespace kiln::cpu::kern
