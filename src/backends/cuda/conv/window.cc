// Conv/pool window geometry (mirrors src/backends/reference/nn compute_window).
#include "backends/cuda/conv/window.h"

#include <algorithm>

namespace kiln::cuda {

bool ConvWindow::symmetric_pads() const {
  for (size_t i = 0; i < nd; ++i)
    if (pads[i] != pads[nd + i]) return false;
  return true;
}

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
  const size_t nd = in.size();
  w->nd = nd;
  w->in = in;
  w->kernel = kernel;
  if (kernel.size() != nd)
    return ctx.error("kernel has " + std::to_string(kernel.size()) + " spatial dims; input has " + std::to_string(nd));
  for (int64_t k : kernel)
    if (k <= 0) return ctx.error("kernel_shape " + dims_to_string(kernel) + " must be positive");
  const Attrs& a = ctx.attrs();
  w->strides = a.get_ints("strides", Dims(nd, 1));
  w->dilations = a.get_ints("dilations", Dims(nd, 1));
  if (w->strides.empty()) w->strides = Dims(nd, 1);
  if (w->dilations.empty()) w->dilations = Dims(nd, 1);
  if (w->strides.size() != nd || w->dilations.size() != nd)
    return ctx.error("strides and dilations must have " + std::to_string(nd) + " values");
  for (size_t i = 0; i < nd; ++i)
    if (w->strides[i] <= 0 || w->dilations[i] <= 0) return ctx.error("strides and dilations must be positive");
  const std::string auto_pad = a.get_string("auto_pad", "NOTSET");
  w->out.assign(nd, 0);
  w->pads.assign(2 * nd, 0);
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < nd; ++i) {
      const int64_t out = (in[i] + w->strides[i] - 1) / w->strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * w->strides[i] + w->eff_kernel(i) - in[i]);
      const int64_t small = total / 2;
      w->pads[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w->pads[nd + i] = total - w->pads[i];
      w->out[i] = out;
    }
    return ok_status();
  }
  if (auto_pad == "NOTSET" || auto_pad.empty()) {
    Dims p = a.get_ints("pads", Dims(2 * nd, 0));
    if (p.empty()) p = Dims(2 * nd, 0);
    if (p.size() != 2 * nd) return ctx.error("pads must have " + std::to_string(2 * nd) + " values");
    for (int64_t v : p)
      if (v < 0) return ctx.error("pads " + dims_to_string(p) + " must be non-negative");
    w->pads = p;
  } else if (auto_pad != "VALID") {
    return ctx.error("auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  for (size_t i = 0; i < nd; ++i) {
    const int64_t span = in[i] + w->pads[i] + w->pads[nd + i] - w->eff_kernel(i);
    if (span < 0) return ctx.error("kernel extent exceeds the padded input on spatial axis " + std::to_string(i));
    int64_t out = span / w->strides[i] + 1;
    if (ceil_mode) {
      out = (span + w->strides[i] - 1) / w->strides[i] + 1;
      if ((out - 1) * w->strides[i] >= in[i] + w->pads[i]) --out;
    }
    w->out[i] = out;
  }
  return ok_status();
}

}  // namespace kiln::cuda
