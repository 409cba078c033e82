// drop_dead_conv_taps: kernel taps that read only padding for every output position are dropped from a Conv or
// QLinearConv with constant weights and static spatial input sizes. Atrous (dilated) convolutions on small feature
// maps have them: DeepLabV3's ASPP runs 3x3 kernels with dilation 12/24/36 on a 20x20 map at 320x320 input, where the
// dilation-24 and -36 kernels see the input only through their centre tap, so each is a 1x1 convolution paying for nine
// taps (10 of 18 ms of DeepLabV3-MobileNetV3 int8 on the CPU). The kernel shrinks to the live taps, the weights are
// sliced and the pads move by the dropped taps' extent: exact, since a dead tap multiplies padding (zero, or the input
// zero point of a quantized convolution, which contributes nothing) for every output. An axis is kept whole when its
// new pads would be negative or its output size would change; a kernel without any live tap is left alone.
#include <algorithm>
#include <cstring>

#include "ir/window_params.h"
#include "passes/fuse_util.h"
#include "passes/pass.h"

namespace kiln {
namespace {

// The first and last taps of one axis that read the input for some output position, or nullopt when none does.
std::optional<std::pair<int64_t, int64_t>> live_taps(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t dil,
                                                     int64_t pad_begin) {
  int64_t first = -1, last = -1;
  for (int64_t t = 0; t < k; ++t) {
    const int64_t off = t * dil - pad_begin;  // input index of output 0
    // The first output whose index is >= 0, then whether that index is inside the input.
    const int64_t o0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
    if (o0 < out && o0 * stride + off < in) {
      if (first < 0) first = t;
      last = t;
    }
  }
  if (first < 0) return std::nullopt;
  return std::make_pair(first, last);
}

// W [O, I/g, k...] restricted to taps [lo[i], lo[i] + kn[i]) of each spatial axis.
Tensor slice_taps(const Tensor& w, const Dims& lo, const Dims& kn) {
  const size_t nd = lo.size();
  Dims dims = w.dims();
  for (size_t i = 0; i < nd; ++i) dims[2 + i] = kn[i];
  Tensor out(w.dtype(), dims);
  const size_t es = dtype_size(w.dtype());
  const int64_t outer = w.dim(0) * w.dim(1);
  int64_t old_inner = 1, new_inner = 1;
  for (size_t i = 0; i < nd; ++i) old_inner *= w.dim(2 + i), new_inner *= kn[i];
  const auto* src = static_cast<const char*>(w.raw());
  auto* dst = static_cast<char*>(out.raw());
  Dims idx(nd, 0);
  for (int64_t j = 0; j < new_inner; ++j) {
    int64_t rem = j, off = 0, mul = 1;
    for (size_t i = nd; i-- > 0;) {
      idx[i] = rem % kn[i];
      rem /= kn[i];
    }
    for (size_t i = nd; i-- > 0;) {
      off += (idx[i] + lo[i]) * mul;
      mul *= w.dim(2 + i);
    }
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (o * new_inner + j) * es, src + (o * old_inner + off) * es, es);
  }
  return out;
}

class DropDeadConvTaps : public Pass {
 public:
  std::string name() const override { return "drop_dead_conv_taps"; }

  Result<bool> run(Graph& g, const PassOptions&) override {
    bool changed = false;
    for (Node& n : g.nodes) {
      const size_t wi = n.op == OpKind::kConv ? 1 : n.op == OpKind::kQLinearConv ? 3 : SIZE_MAX;
      if (wi == SIZE_MAX || !n.has_input(wi)) continue;
      const Tensor* w = constant_value(g, n.inputs[wi]);
      const TypeInfo* xt = g.type_of(n.inputs[0]);
      if (!w || w->rank() < 3 || !xt || !xt->shape.rank_known || xt->shape.dims.size() != w->rank()) continue;
      const size_t nd = w->rank() - 2;
      Dims in(nd), kernel(nd);
      bool known = true;
      for (size_t i = 0; i < nd; ++i) {
        const Dim& d = xt->shape.dims[2 + i];
        known &= d.is_known();
        in[i] = d.value;
        kernel[i] = w->dim(2 + i);
      }
      if (!known) continue;
      auto win = resolve_window(n.attrs, in, kernel, false);
      if (!win.ok()) continue;
      Dims lo(nd, 0), kn = kernel, pads = win->pads;
      bool shrinks = false;
      for (size_t i = 0; i < nd; ++i) {
        auto live = live_taps(in[i], win->out[i], kernel[i], win->strides[i], win->dilations[i], win->pads[i]);
        if (!live) {
          shrinks = false;  // no tap reads the input: leave the node as written
          break;
        }
        const int64_t k_new = live->second - live->first + 1;
        if (k_new == kernel[i]) continue;
        const int64_t d = win->dilations[i];
        const int64_t pb = win->pads[i] - live->first * d;
        const int64_t pe = win->pads[nd + i] - (kernel[i] - 1 - live->second) * d;
        const int64_t out = pb < 0 || pe < 0 ? -1 : (in[i] + pb + pe - (k_new - 1) * d - 1) / win->strides[i] + 1;
        if (out != win->out[i]) continue;
        lo[i] = live->first;
        kn[i] = k_new;
        pads[i] = pb;
        pads[nd + i] = pe;
        shrinks = true;
      }
      if (!shrinks) continue;
      n.inputs[wi] = g.add_constant(n.inputs[wi] + "_live_taps", slice_taps(*w, lo, kn));
      n.attrs.set("kernel_shape", kn);
      n.attrs.set("pads", pads);
      n.attrs.set("auto_pad", std::string("NOTSET"));
      changed = true;
    }
    if (!changed) return false;
    remove_unused_initializers(g);
    KILN_RETURN_IF_ERROR(reinfer_types(g));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_drop_dead_conv_taps_pass() { return std::make_unique<DropDeadConvTaps>(); }

}  // namespace kiln
