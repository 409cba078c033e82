// Helpers shared by the ai.onnx.ml reference kernels.
#include "backends/reference/attention/ml_common.h"

#include <cmath>

#include "backends/reference/attention/float_io.h"

namespace kiln {
namespace attn {
namespace {

// Approximate inverse error function (the formula ONNX-ML runtimes use for PROBIT).
double erf_inv(double x) {
  const double sgn = x < 0 ? -1.0 : 1.0;
  x = (1.0 - x) * (1.0 + x);
  if (x == 0) return 0.0;
  const double lg = std::log(x);
  const double v = 2.0 / (M_PI * 0.147) + 0.5 * lg;
  const double v2 = 1.0 / 0.147 * lg;
  const double v3 = -v + std::sqrt(v * v - v2);
  return sgn * std::sqrt(v3);
}

}  // namespace

bool parse_post_transform(const std::string& s, MlPostTransform* out) {
  if (s == "NONE")
    *out = MlPostTransform::kNone;
  else if (s == "SOFTMAX")
    *out = MlPostTransform::kSoftmax;
  else if (s == "LOGISTIC")
    *out = MlPostTransform::kLogistic;
  else if (s == "SOFTMAX_ZERO")
    *out = MlPostTransform::kSoftmaxZero;
  else if (s == "PROBIT")
    *out = MlPostTransform::kProbit;
  else
    return false;
  return true;
}

void apply_post_transform(MlPostTransform pt, double* row, int64_t n) {
  switch (pt) {
    case MlPostTransform::kNone:
      return;
    case MlPostTransform::kSoftmax: {
      if (n == 0) return;
      double mx = row[0];
      for (int64_t i = 1; i < n; ++i) mx = std::max(mx, row[i]);
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += (row[i] = std::exp(row[i] - mx));
      for (int64_t i = 0; i < n; ++i) row[i] /= sum;
      return;
    }
    case MlPostTransform::kLogistic:
      for (int64_t i = 0; i < n; ++i) {
        const double v = 1.0 / (1.0 + std::exp(-std::fabs(row[i])));
        row[i] = row[i] < 0 ? 1.0 - v : v;
      }
      return;
    case MlPostTransform::kSoftmaxZero: {
      // Like softmax, but exact zeros stay (nearly) zero: they are scaled by exp(-max) instead of exp(0 - max).
      if (n == 0) return;
      double mx = row[0];
      for (int64_t i = 1; i < n; ++i) mx = std::max(mx, row[i]);
      const double exp_neg_max = std::exp(-mx);
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        if (row[i] > 1e-7 || row[i] < -1e-7)
          row[i] = std::exp(row[i] - mx);
        else
          row[i] *= exp_neg_max;
        sum += row[i];
      }
      for (int64_t i = 0; i < n; ++i) row[i] = sum == 0 ? 0.5 : row[i] / sum;
      return;
    }
    case MlPostTransform::kProbit:
      for (int64_t i = 0; i < n; ++i) row[i] = 1.41421356 * erf_inv(row[i] * 2 - 1);
      return;
  }
}

Status read_ml_rows(const KernelContext& ctx, size_t i, MlRows* out) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(i);
  const DType t = x.dtype();
  if (!is_compute_float(t) && t != DType::kInt32 && t != DType::kInt64)
    return ctx.unsupported(std::string("dtype ") + dtype_name(t) + " is not supported");
  if (x.rank() > 2) return ctx.error("X must be 1-D or 2-D, got " + dims_str(x.dims()));
  out->rows = x.rank() == 2 ? x.dim(0) : 1;
  out->cols = x.rank() == 2 ? x.dim(1) : (x.rank() == 1 ? x.dim(0) : 1);
  out->vals = read_doubles(x);
  return ok_status();
}

}  // namespace attn
}  // namespace kiln
