// layout_stem: the space-to-depth form of a stride-2 convolution on a few-channel image (a CNN's stem), used by
// layout_nhwc. The conv becomes a stride-1 NHWC conv over 2x2 pixel blocks folded into channels.
#pragma once
#include <optional>
#include <string>

#include "ir/graph.h"

namespace kiln {

// Geometry of one rewrite. Per spatial axis: the input is zero-padded by `pad_begin` / `pad_end` (pad_end may be
// negative: rows the conv never reads are cropped) to an even `padded` size = 2 * (out - 1 + k'), k' = ceil(k / 2);
// channels go from `channels` to `channels_padded` (so 4 * channels_padded is a multiple of 8).
struct StemPlan {
  int64_t channels = 0, channels_padded = 0;
  int64_t kernel[2] = {0, 0};      // original kh, kw
  int64_t new_kernel[2] = {0, 0};  // k' = ceil(k / 2)
  int64_t pad_begin[2] = {0, 0};
  int64_t pad_end[2] = {0, 0};
  int64_t padded[2] = {0, 0};
};

// Whether NCHW Conv/FusedConv `n` (input 0 a 4-D value outside any NHWC region, input 1 a constant [M, C, kH, kW])
// qualifies: group 1, strides 2x2, dilations 1, explicit pads (auto_pad NOTSET), kernel at least 2x2, C <= 4 and
// static C, H, W; float32/float16/bfloat16 weights.
std::optional<StemPlan> plan_space_to_depth_stem(const Graph& g, const Node& n);

// Rewrites `n` in place into its NHWC space-to-depth form: input 0 becomes the output of
// Pad -> Reshape [N, C', H'/2, 2, W'/2, 2] -> Transpose (0,2,4,3,5,1) -> Reshape [N, H'/2, W'/2, 4C'] (appended to
// g.nodes; cached per input and geometry in `*cache`), input 1 the rearranged constant weights [M, k'h, k'w, 4C'],
// and the attributes a stride-1 unpadded NHWC FusedConv with kernel k'. Bias, activation and Z are unchanged.
Status rewrite_space_to_depth_stem(Graph& g, Node& n, const StemPlan& p, std::map<std::string, std::string>* cache);

}  // namespace kiln
