// Ops' attributes read into typed parameters in one place, shared by shape inference and every backend's kernels,
// so defaults and opset quirks are written once. Errors name the node.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Softmax, LogSoftmax and Hardmax. Opset >= 13: one axis (default -1). Opset < 13: the input is coerced to 2-D, the
// dims from `axis` on (default 1) forming the reduced one. The op runs over `len` elements `inner` apart, in `outer`
// blocks of len * inner elements.
struct SoftmaxShape {
  int64_t axis = 0;  // normalized to [0, rank)
  bool coerced_2d = false;
  int64_t outer = 1, len = 1, inner = 1;
};
// The normalized axis for an input of `rank` (invalid_argument naming the node when out of range or rank 0).
Result<int64_t> softmax_axis(const Node& node, int64_t rank);
Result<SoftmaxShape> softmax_shape(const Node& node, const Dims& dims);

// Transpose's permutation for an input of `rank`: the attribute `perm` (absent: the axes reversed), each entry
// normalized to [0, rank). invalid_argument (without a node prefix) when it has the wrong length or is not a
// permutation; an explicit empty `perm` is only valid for rank 0.
Result<std::vector<int64_t>> transpose_perm(const Attrs& attrs, int64_t rank);

// DepthToSpace / SpaceToDepth as a permuted view: X [N, C, H, W] read as `view` (row-major), permuted by `perm`,
// is the output of dims `out`. Errors (no node prefix) name the bad blocksize, mode or dims.
struct PixelShuffle {
  Dims view;
  std::vector<int64_t> perm;
  Dims out;
};
Result<PixelShuffle> pixel_shuffle(OpKind op, const Attrs& attrs, const Dims& x);

// Gemm and FusedMatMul: Y = alpha * op(A) op(B) (+ beta * C for Gemm). transA/transB must be 0 or 1 (default 0),
// alpha and beta default to 1; FusedMatMul has no beta (its bias is added as is). invalid_argument (without a node
// prefix) naming the attribute otherwise.
struct GemmParams {
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
};
Result<GemmParams> gemm_params(const Attrs& attrs);

// Concat's axis for inputs of `rank`, normalized to [0, rank). ONNX requires the attribute from opset 4 (the importer
// writes opset 1's default, 1, into older nodes). invalid_argument (without a node prefix) when it is absent or out of
// range.
Result<int64_t> concat_axis(const Attrs& attrs, int64_t rank);

// Gather's and GatherElements' axis (default 0) for data of `rank`, normalized to [0, rank). invalid_argument (without
// a node prefix) when out of range (a rank-0 input has none).
Result<int64_t> gather_axis(const Attrs& attrs, int64_t rank);

}  // namespace kiln
