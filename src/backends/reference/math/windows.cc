// Window-function (Blackman, Hamming, Hann) and MelWeightMatrix reference kernels.
#include <cmath>

#include "backends/reference/math/math_kernels.h"
#include "backends/reference/math/math_util.h"

namespace kiln::math_ref {
namespace {

constexpr double kPi = 3.14159265358979323846;

enum class WindowKind { kBlackman, kHamming, kHann };

// Reads the output_datatype attribute (default float32); must be a numeric type.
Status output_dtype(const KernelContext& ctx, DType* dt) {
  const int64_t code = ctx.attrs().get_int("output_datatype", 1);
  if (!dtype_from_int(code, dt) || *dt == DType::kString || *dt == DType::kUndefined || *dt == DType::kComplex64 ||
      *dt == DType::kComplex128)
    return ctx.error("output_datatype " + std::to_string(code) + " is not a numeric tensor type");
  return ok_status();
}

Status window_kernel(KernelContext& ctx, WindowKind kind) {
  int64_t size;
  KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 0, "size", &size));
  if (size < 0) return ctx.error("size must be non-negative, got " + std::to_string(size));
  DType dt;
  KILN_RETURN_IF_ERROR(output_dtype(ctx, &dt));
  const bool periodic = ctx.attrs().get_int("periodic", 1) != 0;
  KILN_RETURN_IF_ERROR(check_output_size(ctx, {size}));
  const double n_den = static_cast<double>(periodic ? size : size - 1);
  std::vector<double> w(static_cast<size_t>(size));
  for (int64_t n = 0; n < size; ++n) {
    if (n_den == 0) {  // a symmetric window of one sample
      w[n] = 1.0;
      continue;
    }
    const double t = 2.0 * kPi * static_cast<double>(n) / n_den;
    switch (kind) {
      case WindowKind::kBlackman:
        w[n] = 0.42 - 0.5 * std::cos(t) + 0.08 * std::cos(2.0 * t);
        break;
      case WindowKind::kHamming:
        w[n] = 25.0 / 46.0 - (21.0 / 46.0) * std::cos(t);
        break;
      case WindowKind::kHann: {
        const double s = std::sin(0.5 * t);
        w[n] = s * s;
        break;
      }
    }
  }
  ctx.set_output(0, tensor_from_doubles(dt, {size}, w));
  return ok_status();
}

}  // namespace

Status blackman_window(KernelContext& ctx) { return window_kernel(ctx, WindowKind::kBlackman); }
Status hamming_window(KernelContext& ctx) { return window_kernel(ctx, WindowKind::kHamming); }
Status hann_window(KernelContext& ctx) { return window_kernel(ctx, WindowKind::kHann); }

// Triangular mel filters: [dft_length / 2 + 1, num_mel_bins], edges spaced evenly on the mel scale.
Status mel_weight_matrix(KernelContext& ctx) {
  int64_t num_mel_bins, dft_length, sample_rate;
  double lower_hz, upper_hz;
  KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 0, "num_mel_bins", &num_mel_bins));
  KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 1, "dft_length", &dft_length));
  KILN_RETURN_IF_ERROR(read_scalar_int(ctx, 2, "sample_rate", &sample_rate));
  KILN_RETURN_IF_ERROR(read_scalar_double(ctx, 3, "lower_edge_hertz", &lower_hz));
  KILN_RETURN_IF_ERROR(read_scalar_double(ctx, 4, "upper_edge_hertz", &upper_hz));
  if (num_mel_bins <= 0 || dft_length <= 0 || sample_rate <= 0)
    return ctx.error("num_mel_bins, dft_length and sample_rate must be positive, got " + std::to_string(num_mel_bins) +
                     ", " + std::to_string(dft_length) + ", " + std::to_string(sample_rate));
  if (!(lower_hz >= 0) || !(upper_hz >= lower_hz))
    return ctx.error("need 0 <= lower_edge_hertz <= upper_edge_hertz, got " + std::to_string(lower_hz) + " and " +
                     std::to_string(upper_hz));
  DType dt;
  KILN_RETURN_IF_ERROR(output_dtype(ctx, &dt));
  const int64_t spec_bins = dft_length / 2 + 1;
  KILN_RETURN_IF_ERROR(check_output_size(ctx, {spec_bins, num_mel_bins}));
  auto hz_to_mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
  const double low_mel = hz_to_mel(lower_hz), high_mel = hz_to_mel(upper_hz);
  const double mel_step = (high_mel - low_mel) / static_cast<double>(num_mel_bins + 2);
  std::vector<int64_t> edge(static_cast<size_t>(num_mel_bins + 2));
  for (int64_t i = 0; i < num_mel_bins + 2; ++i) {
    const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * mel_step + low_mel) / 2595.0) - 1.0);
    edge[i] =
        static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate)));
  }
  std::vector<double> w(static_cast<size_t>(spec_bins * num_mel_bins), 0.0);
  auto put = [&](int64_t row, int64_t col, double v) {
    if (row >= 0 && row < spec_bins) w[row * num_mel_bins + col] = v;
  };
  for (int64_t i = 0; i < num_mel_bins; ++i) {
    const int64_t lo = edge[i], center = edge[i + 1], hi = edge[i + 2];
    if (center == lo) {
      put(center, i, 1.0);
    } else {
      for (int64_t j = lo; j <= center; ++j) put(j, i, static_cast<double>(j - lo) / static_cast<double>(center - lo));
    }
    if (hi > center)
      for (int64_t j = center; j < hi; ++j) put(j, i, static_cast<double>(hi - j) / static_cast<double>(hi - center));
  }
  ctx.set_output(0, tensor_from_doubles(dt, {spec_bins, num_mel_bins}, w));
  return ok_status();
}

}  // namespace kiln::math_ref
