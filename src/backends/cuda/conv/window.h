// Conv/pool window geometry for the CUDA conv family: the same rules as the reference nn kernels.
#pragma once
#include <string>

#include "backends/cuda/kernel.h"
#include "ir/window_params.h"

namespace kiln::cuda {

using ConvWindow = ResolvedWindow;  // ir/window_params.h

// Reads strides / dilations / pads / auto_pad of the node and computes output sizes (pooling's ceil rule when
// ceil_mode). Errors name the node.
Status compute_conv_window(const CudaKernelContext& ctx, const Dims& in, const Dims& kernel, bool ceil_mode,
                           ConvWindow* w);

// True when the node's `layout` attribute asks for channels-last tensors (FusedConv, pools).
bool is_channels_last(const Node& node);

// Shape helpers: NCHW [N, C, spatial...] or NHWC [N, spatial..., C].
int64_t channels_of(const Dims& d, bool nhwc);
Dims spatial_of(const Dims& d, bool nhwc);
Dims make_activation_dims(int64_t n, int64_t c, const Dims& spatial, bool nhwc);

}  // namespace kiln::cuda
