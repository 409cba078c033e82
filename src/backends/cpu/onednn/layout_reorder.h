// Hand-written reorders between plain (N, C, spatial...) and channels-last (N, spatial..., C) activations, float32
// and bf16 either way: the layout changes at the edges of convolution regions (a Slice, Reshape or Concat between
// convolutions), where oneDNN 2.6's reorders took 0.5 ns per element (ShuffleNetV2 bf16 at batch 1: 0.9 of 2.7 ms).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

namespace kiln::cpu::onednn {

// Converts `from` into `to` when both are dense, unpadded 3- to 5-D tensors of the same dims, one plain and the other
// channels-last (or both the same of the two, with a type change), of float32 or bf16, with at least 16 channels when
// the layout changes, or 1-4 float32 planes into channels-last (an RGB model input: the stem convolution's source);
// returns false (nothing done) for anything else. bf16 results round to nearest even as oneDNN's reorders do (NaN stays NaN). Runs on up to
// `threads` OpenMP threads (work permitting).
bool layout_reorder(const dnnl::memory& from, const dnnl::memory& to, int threads);

}  // namespace kiln::cpu::onednn
