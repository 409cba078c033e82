// Conv/ConvTranspose/pooling window attributes and output-size rules (see window_params.h).
#include "ir/window_params.h"

#include <algorithm>
#include <string>

namespace kiln {

namespace {

std::string ints(const Dims& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// A list attribute of `n` values (absent or empty: `n` copies of `def`).
Result<Dims> list_of(const Attrs& a, const char* name, size_t n, int64_t def) {
  Dims v = a.get_ints(name, Dims(n, def));
  if (v.empty()) v = Dims(n, def);
  if (v.size() != n)
    return invalid_argument(std::string(name) + " " + ints(v) + " has " + std::to_string(v.size()) +
                            " values; expected " + std::to_string(n));
  return v;
}

Status check_positive(const char* name, const Dims& v) {
  for (int64_t x : v)
    if (x <= 0) return invalid_argument(std::string(name) + " " + ints(v) + " must be positive");
  return ok_status();
}

int64_t effective_kernel(const WindowAttrs& w, size_t i, int64_t kernel) { return (kernel - 1) * w.dilations[i] + 1; }

// SAME_UPPER puts the smaller half of an odd total first.
void split_total(AutoPad mode, int64_t total, int64_t* begin, int64_t* end) {
  const int64_t half = total / 2;
  *begin = mode == AutoPad::kSameUpper ? half : total - half;
  *end = total - *begin;
}

}  // namespace

Result<WindowAttrs> parse_window_attrs(const Attrs& a, size_t nd, bool ceil_mode) {
  WindowAttrs w;
  w.nd = nd;
  w.ceil_mode = ceil_mode;
  KILN_ASSIGN_OR_RETURN(w.strides, list_of(a, "strides", nd, 1));
  KILN_RETURN_IF_ERROR(check_positive("strides", w.strides));
  KILN_ASSIGN_OR_RETURN(w.dilations, list_of(a, "dilations", nd, 1));
  KILN_RETURN_IF_ERROR(check_positive("dilations", w.dilations));
  const std::string mode = a.get_string("auto_pad", "NOTSET");
  w.pads.assign(2 * nd, 0);
  if (mode == "NOTSET" || mode.empty()) {
    w.auto_pad = AutoPad::kNotSet;
    KILN_ASSIGN_OR_RETURN(w.pads, list_of(a, "pads", 2 * nd, 0));
    for (int64_t v : w.pads)
      if (v < 0) return invalid_argument("pads " + ints(w.pads) + " must be non-negative");
  } else if (mode == "SAME_UPPER") {
    w.auto_pad = AutoPad::kSameUpper;
  } else if (mode == "SAME_LOWER") {
    w.auto_pad = AutoPad::kSameLower;
  } else if (mode == "VALID") {
    w.auto_pad = AutoPad::kValid;
  } else {
    return invalid_argument("auto_pad '" + mode + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  return w;
}

Result<int64_t> window_out_size(const WindowAttrs& w, size_t i, int64_t in, int64_t kernel) {
  if (kernel <= 0) return invalid_argument("kernel size " + std::to_string(kernel) + " must be positive");
  const int64_t s = w.strides[i];
  if (w.same()) return (in + s - 1) / s;
  const int64_t begin = w.pads[i], padded = in + begin + w.pads[w.nd + i], eff = effective_kernel(w, i, kernel);
  const int64_t span = padded - eff;
  if (span < 0)
    return invalid_argument("kernel extent " + std::to_string(eff) + " exceeds padded input size " +
                            std::to_string(padded) + " on spatial axis " + std::to_string(i));
  int64_t out = span / s + 1;
  if (w.ceil_mode) {
    out = (span + s - 1) / s + 1;
    if ((out - 1) * s >= in + begin) --out;  // the last window would start in the right pad
  }
  return out;
}

Result<WindowGeometry> window_geometry(const WindowAttrs& w, const Dims& in, const Dims& kernel) {
  if (in.size() != w.nd || kernel.size() != w.nd)
    return invalid_argument("kernel " + ints(kernel) + " and input " + ints(in) + " must have " +
                            std::to_string(w.nd) + " spatial dims");
  WindowGeometry g;
  g.pads = w.pads;
  g.out.assign(w.nd, 0);
  for (size_t i = 0; i < w.nd; ++i) {
    if (w.same()) {
      const int64_t out = (in[i] + w.strides[i] - 1) / w.strides[i];
      const int64_t total =
          std::max<int64_t>(0, (out - 1) * w.strides[i] + effective_kernel(w, i, kernel[i]) - in[i]);
      split_total(w.auto_pad, total, &g.pads[i], &g.pads[w.nd + i]);
    }
    KILN_ASSIGN_OR_RETURN(g.out[i], window_out_size(w, i, in[i], kernel[i]));
  }
  return g;
}

bool ResolvedWindow::symmetric_pads() const {
  for (size_t i = 0; i < nd; ++i)
    if (pads[i] != pads[nd + i]) return false;
  return true;
}

Result<ResolvedWindow> resolve_window(const Attrs& a, const Dims& in, const Dims& kernel, bool ceil_mode) {
  const size_t nd = in.size();
  if (kernel.size() != nd)
    return invalid_argument("kernel has " + std::to_string(kernel.size()) + " spatial dims; input has " +
                            std::to_string(nd));
  for (int64_t k : kernel)
    if (k <= 0) return invalid_argument("kernel_shape " + ints(kernel) + " must be positive");
  KILN_ASSIGN_OR_RETURN(WindowAttrs w, parse_window_attrs(a, nd, ceil_mode));
  KILN_ASSIGN_OR_RETURN(WindowGeometry g, window_geometry(w, in, kernel));
  ResolvedWindow r;
  r.nd = nd;
  r.in = in;
  r.kernel = kernel;
  r.strides = w.strides;
  r.dilations = w.dilations;
  r.pads = g.pads;
  r.out = g.out;
  return r;
}

Result<ConvTransposeAttrs> parse_conv_transpose_attrs(const Attrs& a, size_t nd) {
  ConvTransposeAttrs t;
  KILN_ASSIGN_OR_RETURN(t.window, parse_window_attrs(a, nd));
  Dims op = a.get_ints("output_padding", Dims(nd, 0));
  if (op.empty()) op = Dims(nd, 0);
  if (op.size() == 2 * nd) op.resize(nd);
  if (op.size() != nd)
    return invalid_argument("output_padding " + ints(op) + " has " + std::to_string(op.size()) +
                            " values; expected " + std::to_string(nd));
  for (int64_t v : op)
    if (v < 0) return invalid_argument("output_padding " + ints(op) + " must be non-negative");
  t.output_padding = op;
  Dims os = a.get_ints("output_shape");
  if (os.size() == nd + 2) os.erase(os.begin(), os.begin() + 2);
  if (!os.empty() && os.size() != nd)
    return invalid_argument("output_shape " + ints(os) + " must have " + std::to_string(nd) + " values");
  for (int64_t v : os)
    if (v <= 0) return invalid_argument("output_shape " + ints(os) + " must be positive");
  t.output_shape = os;
  return t;
}

Result<int64_t> conv_transpose_out_size(const ConvTransposeAttrs& t, size_t i, int64_t in, int64_t kernel) {
  if (kernel <= 0) return invalid_argument("kernel size " + std::to_string(kernel) + " must be positive");
  const WindowAttrs& w = t.window;
  if (!t.output_shape.empty()) return t.output_shape[i];
  if (w.same()) return in * w.strides[i];
  const int64_t full = w.strides[i] * (in - 1) + effective_kernel(w, i, kernel);
  const int64_t out = full + t.output_padding[i] - w.pads[i] - w.pads[w.nd + i];
  if (out <= 0)
    return invalid_argument("computed output size " + std::to_string(out) + " on spatial axis " + std::to_string(i) +
                            " is not positive");
  return out;
}

Result<ConvTransposeGeometry> conv_transpose_geometry(const ConvTransposeAttrs& t, const Dims& in, const Dims& kernel) {
  const WindowAttrs& w = t.window;
  if (in.size() != w.nd || kernel.size() != w.nd)
    return invalid_argument("kernel " + ints(kernel) + " and input " + ints(in) + " must have " +
                            std::to_string(w.nd) + " spatial dims");
  ConvTransposeGeometry g;
  g.pads = w.pads;
  g.out.assign(w.nd, 0);
  g.full.assign(w.nd, 0);
  for (size_t i = 0; i < w.nd; ++i) {
    if (kernel[i] <= 0) return invalid_argument("kernel " + ints(kernel) + " must be positive");
    g.full[i] = w.strides[i] * (in[i] - 1) + effective_kernel(w, i, kernel[i]);
    KILN_ASSIGN_OR_RETURN(g.out[i], conv_transpose_out_size(t, i, in[i], kernel[i]));
    if (!t.output_shape.empty() || w.same()) {
      const int64_t total = std::max<int64_t>(0, g.full[i] + t.output_padding[i] - g.out[i]);
      split_total(w.same() ? w.auto_pad : AutoPad::kSameLower, total, &g.pads[i], &g.pads[w.nd + i]);
    }
  }
  return g;
}

}  // namespace kiln
