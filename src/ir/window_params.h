// Sliding-window attributes of Conv, ConvTranspose and pooling (strides, dilations, pads, auto_pad, output_padding,
// output_shape) parsed and checked once, and their output-size rules: shared by shape inference and every backend,
// so the ONNX arithmetic (SAME_UPPER/LOWER splits, pooling's ceil rule, ConvTranspose's total padding) is written once.
// Errors are invalid_argument without a node prefix (callers add theirs) and name the attribute, expected vs got.
#pragma once
#include <cstddef>

#include "ir/attrs.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowAttrs {
  size_t nd = 0;                  // spatial dims
  Dims strides, dilations;        // nd each (default 1), positive
  Dims pads;                      // 2*nd, begins then ends; the explicit pads (zeros unless auto_pad is NOTSET)
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;         // pooling: output sizes round up (a window must start inside the input or its left pad)
  bool same() const { return auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower; }
};

// Reads strides / dilations / pads / auto_pad for `nd` spatial dims (an empty list means the default).
Result<WindowAttrs> parse_window_attrs(const Attrs& a, size_t nd, bool ceil_mode = false);

// Pads (2*nd, auto_pad resolved) and output sizes of a Conv or pooling window.
struct WindowGeometry {
  Dims pads;
  Dims out;
};
// For input spatial sizes `in` and kernel sizes `kernel` (nd each, kernel positive): errors when a kernel extent
// exceeds its padded input.
Result<WindowGeometry> window_geometry(const WindowAttrs& w, const Dims& in, const Dims& kernel);
// One spatial axis's output size (shape inference, where other axes may be unknown).
Result<int64_t> window_out_size(const WindowAttrs& w, size_t axis, int64_t in, int64_t kernel);

// Everything a Conv or pooling kernel needs about its window, resolved for one input shape.
struct ResolvedWindow {
  size_t nd = 0;
  Dims in, kernel, strides, dilations;
  Dims pads;  // 2*nd: begins then ends, auto_pad resolved
  Dims out;
  int64_t eff_kernel(size_t i) const { return (kernel[i] - 1) * dilations[i] + 1; }
  bool symmetric_pads() const;
};
// parse_window_attrs + window_geometry for input spatial sizes `in` and kernel sizes `kernel`, after checking that
// the kernel has the input's spatial rank and positive sizes.
Result<ResolvedWindow> resolve_window(const Attrs& a, const Dims& in, const Dims& kernel, bool ceil_mode);

// ConvTranspose: the window attributes plus output_padding (nd, default 0; a 2*nd list keeps its first nd) and
// output_shape (nd spatial sizes; a full nd+2 shape keeps its spatial part; empty when absent).
struct ConvTransposeAttrs {
  WindowAttrs window;
  Dims output_padding;
  Dims output_shape;
};
Result<ConvTransposeAttrs> parse_conv_transpose_attrs(const Attrs& a, size_t nd);

// ConvTranspose's output sizes and pads. The full result of axis i has stride*(in-1) + (kernel-1)*dilation + 1
// elements; with output_shape or SAME auto_pad the output size is given (output_shape, else in*stride) and the total
// padding full + output_padding - out is split (SAME_UPPER: the smaller half first; clamped at 0: an output larger
// than the full result keeps a bias-only tail); otherwise out = full + output_padding - pads, which must be positive.
struct ConvTransposeGeometry {
  Dims pads;  // 2*nd
  Dims out;   // nd
  Dims full;  // nd: the uncropped result sizes
};
Result<ConvTransposeGeometry> conv_transpose_geometry(const ConvTransposeAttrs& t, const Dims& in, const Dims& kernel);
// One axis's output size (shape inference).
Result<int64_t> conv_transpose_out_size(const ConvTransposeAttrs& t, size_t axis, int64_t in, int64_t kernel);

}  // namespace kiln
