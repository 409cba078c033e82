// DFT and STFT reference kernels: direct O(n^2) discrete Fourier transforms in double precision.
// Signals are real ([..., 1]) or complex ([..., 2]) along the last dimension.
#include <cmath>
#include <complex>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {
namespace {

using cplx = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

// X[k] = sum_n x[n] * exp(sign * 2*pi*i*k*n/len) for k in [0, out_len); x is zero-padded/truncated to len.
std::vector<cplx> transform(const std::vector<cplx>& x, int64_t len, int64_t out_len, bool inverse) {
  std::vector<cplx> out(static_cast<size_t>(out_len));
  const int64_t used = std::min<int64_t>(len, static_cast<int64_t>(x.size()));
  const double sign = inverse ? 1.0 : -1.0;
  for (int64_t k = 0; k < out_len; ++k) {
    cplx s(0.0, 0.0);
    for (int64_t n = 0; n < used; ++n) {
      const double ang = sign * 2.0 * kPi * static_cast<double>((k * n) % len) / static_cast<double>(len);
      s += x[n] * cplx(std::cos(ang), std::sin(ang));
    }
    out[k] = inverse ? s / static_cast<double>(len) : s;
  }
  return out;
}

}  // namespace

Status dft(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  const int64_t rank = static_cast<int64_t>(x.rank());
  if (rank < 2 || (x.dim(rank - 1) != 1 && x.dim(rank - 1) != 2))
    return ctx.error("input must have shape [..., signal, 1 or 2], got " + shape_str(x.dims()));
  int64_t axis = -2;
  if (ctx.has_input(2))
    KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 2, "axis", &axis));
  else if (ctx.attrs().has("axis"))
    axis = ctx.attrs().get_int("axis");
  int64_t ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax > rank - 2)
    return ctx.error("axis " + std::to_string(axis) + " is out of range for input of rank " + std::to_string(rank) +
                     " (the last dimension holds real/imaginary parts)");
  int64_t len = x.dim(ax);
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 1, "dft_length", &len));
    if (len <= 0) return ctx.error("dft_length must be positive, got " + std::to_string(len));
  }
  if (len <= 0) return ctx.error("the signal along axis " + std::to_string(axis) + " is empty");
  const bool inverse = ctx.attrs().get_int("inverse", 0) != 0;
  const bool onesided = ctx.attrs().get_int("onesided", 0) != 0;
  const int64_t out_len = onesided ? len / 2 + 1 : len;
  Dims out_dims = x.dims();
  out_dims[ax] = out_len;
  out_dims[rank - 1] = 2;
  KILN_RETURN_IF_ERROR(check_output_size(ctx, out_dims));
  const int64_t comps = x.dim(rank - 1), in_len = x.dim(ax);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= x.dim(d);
  for (int64_t d = ax + 1; d < rank - 1; ++d) inner *= x.dim(d);
  auto v = read_doubles(x);
  std::vector<double> y(static_cast<size_t>(outer * out_len * inner * 2));
  std::vector<cplx> line(static_cast<size_t>(in_len));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t n = 0; n < in_len; ++n) {
        const int64_t base = ((o * in_len + n) * inner + i) * comps;
        line[n] = cplx(v[base], comps == 2 ? v[base + 1] : 0.0);
      }
      auto r = transform(line, len, out_len, inverse);
      for (int64_t k = 0; k < out_len; ++k) {
        const int64_t base = ((o * out_len + k) * inner + i) * 2;
        y[base] = r[k].real();
        y[base + 1] = r[k].imag();
      }
    }
  }
  ctx.set_output(0, tensor_from_doubles(x.dtype(), out_dims, y));
  return ok_status();
}

Status stft(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  if (!is_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported (floats only)");
  if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2))
    return ctx.error("signal must have shape [batch, length, 1 or 2], got " + shape_str(x.dims()));
  int64_t step;
  KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 1, "frame_step", &step));
  if (step <= 0) return ctx.error("frame_step must be positive, got " + std::to_string(step));
  std::vector<double> window;
  int64_t frame_len = -1;
  if (ctx.has_input(2)) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(2));
    const Tensor& w = ctx.input(2);
    if (w.rank() != 1) return ctx.error("window must be 1-D, got " + shape_str(w.dims()));
    window = read_doubles(w);
    frame_len = w.dim(0);
  }
  if (ctx.has_input(3)) {
    int64_t fl;
    KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 3, "frame_length", &fl));
    if (frame_len >= 0 && fl != frame_len)
      return ctx.error("frame_length " + std::to_string(fl) + " differs from the window length " +
                       std::to_string(frame_len));
    frame_len = fl;
  }
  const int64_t batch = x.dim(0), sig_len = x.dim(1), comps = x.dim(2);
  if (frame_len < 0) frame_len = sig_len;
  if (frame_len <= 0 || frame_len > sig_len)
    return ctx.error("frame length " + std::to_string(frame_len) + " must be in [1, signal length " +
                     std::to_string(sig_len) + "]");
  if (window.empty()) window.assign(static_cast<size_t>(frame_len), 1.0);
  const bool onesided = ctx.attrs().get_int("onesided", 1) != 0;
  const int64_t frames = 1 + (sig_len - frame_len) / step;
  const int64_t bins = onesided ? frame_len / 2 + 1 : frame_len;
  const Dims out_dims = {batch, frames, bins, 2};
  KILN_RETURN_IF_ERROR(check_output_size(ctx, out_dims));
  auto v = read_doubles(x);
  std::vector<double> y(static_cast<size_t>(batch * frames * bins * 2));
  std::vector<cplx> frame(static_cast<size_t>(frame_len));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t n = 0; n < frame_len; ++n) {
        const int64_t base = (b * sig_len + f * step + n) * comps;
        frame[n] = cplx(v[base], comps == 2 ? v[base + 1] : 0.0) * window[n];
      }
      auto r = transform(frame, frame_len, bins, false);
      for (int64_t k = 0; k < bins; ++k) {
        const int64_t base = ((b * frames + f) * bins + k) * 2;
        y[base] = r[k].real();
        y[base + 1] = r[k].imag();
      }
    }
  }
  ctx.set_output(0, tensor_from_doubles(x.dtype(), out_dims, y));
  return ok_status();
}

}  // namespace kiln::math_ref
