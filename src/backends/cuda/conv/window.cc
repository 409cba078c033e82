// Conv/pool window geometry for the CUDA conv family (the shared rules of ir/window_params.h).
#include "backends/cuda/conv/window.h"

#include <algorithm>

namespace kiln::cuda {

bool is_channels_last(const Node& node) { return node.attrs.get_string("layout", "NCHW") == "NHWC"; }

int64_t channels_of(const Dims& d, bool nhwc) { return nhwc ? d.back() : d[1]; }

Dims spatial_of(const Dims& d, bool nhwc) {
  return nhwc ? Dims(d.begin() + 1, d.end() - 1) : Dims(d.begin() + 2, d.end());
}

Dims make_activation_dims(int64_t n, int64_t c, const Dims& spatial, bool nhwc) {
  Dims d{n};
  if (!nhwc) d.push_back(c);
  d.insert(d.end(), spatial.begin(), spatial.end());
  if (nhwc) d.push_back(c);
  return d;
}

Status compute_conv_window(const CudaKernelContext& ctx, const Dims& in, const Dims& kernel, bool ceil_mode,
                           ConvWindow* w) {
  auto r = resolve_window(ctx.attrs(), in, kernel, ceil_mode);
  if (!r.ok()) return ctx.error(r.status().message());
  *w = std::move(*r);
  return ok_status();
}

}  // namespace kiln::cuda
