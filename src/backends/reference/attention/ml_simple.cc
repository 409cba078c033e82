// Reference kernels for the small ai.onnx.ml ops: Binarizer, ArrayFeatureExtractor, Normalizer, Scaler,
// LinearRegressor and LinearClassifier.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"
#include "backends/reference/attention/ml_common.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

Status check_numeric_input(const KernelContext& ctx, const Tensor& x) {
  const DType t = x.dtype();
  if (!is_compute_float(t) && t != DType::kInt32 && t != DType::kInt64)
    return ctx.unsupported(std::string("dtype ") + dtype_name(t) + " is not supported");
  return ok_status();
}

// Sets output `i` to a string tensor of `vals`, or an int64 tensor of `ints`.
void set_labels(KernelContext& ctx, size_t i, bool strings, const std::vector<std::string>& s,
                const std::vector<int64_t>& ints) {
  if (strings) {
    Tensor t(DType::kString, {static_cast<int64_t>(s.size())});
    for (size_t k = 0; k < s.size(); ++k) t.strings()[k] = s[k];
    ctx.set_output(i, std::move(t));
  } else {
    ctx.set_output(i, Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(ints.size())}, ints));
  }
}

}  // namespace

Status ml_binarizer_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_numeric_input(ctx, x));
  const double threshold = ctx.attrs().get_float("threshold", 0.f);
  std::vector<double> v = read_doubles(x);
  for (double& e : v) e = e > threshold ? 1.0 : 0.0;
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(x.dtype(), x.dims(), v));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_array_feature_extractor_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  if (!is_integer(idx.dtype())) return ctx.error("Y (indices) must be an integer tensor");
  if (x.rank() == 0) return ctx.error("X must have rank >= 1");
  if (is_sub_byte(x.dtype()) || x.dtype() == DType::kUndefined)
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported");
  const std::vector<int64_t> ind = tensor_to_int64s(idx);
  const int64_t C = x.dim(x.rank() - 1);
  for (int64_t v : ind) {
    if (v < 0 || v >= C)
      return ctx.error("index " + std::to_string(v) + " is out of range for the last dim of X (" + std::to_string(C) +
                       ")");
  }
  Dims out_dims = x.rank() == 1 ? Dims{1} : Dims(x.dims().begin(), x.dims().end() - 1);
  out_dims.push_back(static_cast<int64_t>(ind.size()));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(x.dtype(), out_dims));
  const int64_t rows = C == 0 ? 0 : x.numel() / C;
  const int64_t n = static_cast<int64_t>(ind.size());
  const size_t es = dtype_size(x.dtype());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < n; ++k) {
      const int64_t src = r * C + ind[k], dst = r * n + k;
      if (x.dtype() == DType::kString) {
        y.strings()[dst] = x.strings()[src];
      } else {
        std::memcpy(static_cast<uint8_t*>(y.raw()) + dst * es, static_cast<const uint8_t*>(x.raw()) + src * es, es);
      }
    }
  }
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_normalizer_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const std::string norm = ctx.attrs().get_string("norm", "MAX");
  if (norm != "MAX" && norm != "L1" && norm != "L2") return ctx.error("norm must be MAX, L1 or L2, got '" + norm + "'");
  std::vector<double> out = x.vals;
  for (int64_t r = 0; r < x.rows; ++r) {
    double* row = out.data() + r * x.cols;
    if (norm == "MAX") {
      // Y = X / max(X) (the spec's formula, also what onnxruntime does); a zero max leaves the row as is.
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < x.cols; ++c) mx = std::max(mx, row[c]);
      if (x.cols > 0 && mx != 0.0)
        for (int64_t c = 0; c < x.cols; ++c) row[c] /= mx;
      continue;
    }
    double div = 0.0;
    for (int64_t c = 0; c < x.cols; ++c) div += norm == "L1" ? std::fabs(row[c]) : row[c] * row[c];
    if (norm == "L2") div = std::sqrt(div);
    div = std::max(div, 1e-30);
    for (int64_t c = 0; c < x.cols; ++c) row[c] /= div;
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(DType::kFloat32, ctx.input(0).dims(), out));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_scaler_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_numeric_input(ctx, x));
  const std::vector<float> offset = ctx.attrs().get_floats("offset");
  const std::vector<float> scale = ctx.attrs().get_floats("scale");
  const int64_t C = x.rank() == 0 ? 1 : x.dim(x.rank() - 1);
  for (const auto* v : {&offset, &scale}) {
    if (v->size() > 1 && static_cast<int64_t>(v->size()) != C)
      return ctx.error("offset/scale must have 1 or " + std::to_string(C) + " values, got " +
                       std::to_string(v->size()));
  }
  std::vector<double> vals = read_doubles(x);
  for (int64_t i = 0; i < static_cast<int64_t>(vals.size()); ++i) {
    const int64_t c = C == 0 ? 0 : i % C;
    const double off = offset.empty() ? 0.0 : offset[offset.size() == 1 ? 0 : c];
    const double sc = scale.empty() ? 1.0 : scale[scale.size() == 1 ? 0 : c];
    vals[i] = static_cast<float>((static_cast<float>(vals[i]) - static_cast<float>(off)) * static_cast<float>(sc));
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(DType::kFloat32, x.dims(), vals));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_linear_regressor_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const auto& a = ctx.attrs();
  const std::vector<float> coef = a.get_floats("coefficients");
  const std::vector<float> icpt = a.get_floats("intercepts");
  const int64_t targets = a.get_int("targets", 1);
  MlPostTransform pt;
  if (!parse_post_transform(a.get_string("post_transform", "NONE"), &pt))
    return ctx.error("unknown post_transform '" + a.get_string("post_transform") + "'");
  if (targets <= 0) return ctx.error("targets must be positive");
  if (static_cast<int64_t>(coef.size()) != targets * x.cols)
    return ctx.error("coefficients must have targets*C = " + std::to_string(targets * x.cols) + " values, got " +
                     std::to_string(coef.size()));
  if (!icpt.empty() && static_cast<int64_t>(icpt.size()) != targets)
    return ctx.error("intercepts must have " + std::to_string(targets) + " values, got " + std::to_string(icpt.size()));
  std::vector<double> out(static_cast<size_t>(x.rows * targets));
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t t = 0; t < targets; ++t) {
      double s = icpt.empty() ? 0.0 : icpt[t];
      for (int64_t c = 0; c < x.cols; ++c) s += x.vals[r * x.cols + c] * coef[t * x.cols + c];
      out[r * targets + t] = s;
    }
    apply_post_transform(pt, out.data() + r * targets, targets);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(DType::kFloat32, {x.rows, targets}, out));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

Status ml_linear_classifier_kernel(KernelContext& ctx) {
  MlRows x;
  KILN_RETURN_IF_ERROR(read_ml_rows(ctx, 0, &x));
  const auto& a = ctx.attrs();
  const std::vector<float> coef = a.get_floats("coefficients");
  const std::vector<float> icpt = a.get_floats("intercepts");
  const std::vector<int64_t> labels_i = a.get_ints("classlabels_ints");
  const std::vector<std::string> labels_s = a.get_strings("classlabels_strings");
  const bool string_labels = !labels_s.empty();
  MlPostTransform pt;
  if (!parse_post_transform(a.get_string("post_transform", "NONE"), &pt))
    return ctx.error("unknown post_transform '" + a.get_string("post_transform") + "'");
  if (x.cols <= 0 || coef.empty() || static_cast<int64_t>(coef.size()) % x.cols != 0)
    return ctx.error("coefficients size " + std::to_string(coef.size()) +
                     " is not a multiple of C = " + std::to_string(x.cols));
  const int64_t n_rows = static_cast<int64_t>(coef.size()) / x.cols;
  if (!icpt.empty() && static_cast<int64_t>(icpt.size()) != n_rows)
    return ctx.error("intercepts must have " + std::to_string(n_rows) + " values, got " + std::to_string(icpt.size()));
  const int64_t n_classes = static_cast<int64_t>(string_labels ? labels_s.size() : labels_i.size());
  // One coefficient row with two classes scores the pair as [-s, s].
  const bool expand = n_rows == 1 && n_classes == 2;
  const int64_t K = expand ? 2 : n_rows;
  std::vector<double> scores(static_cast<size_t>(x.rows * K));
  std::vector<int64_t> out_i;
  std::vector<std::string> out_s;
  for (int64_t r = 0; r < x.rows; ++r) {
    double* row = scores.data() + r * K;
    for (int64_t k = 0; k < n_rows; ++k) {
      double s = icpt.empty() ? 0.0 : icpt[k];
      for (int64_t c = 0; c < x.cols; ++c) s += x.vals[r * x.cols + c] * coef[k * x.cols + c];
      row[k] = s;
    }
    if (expand) {
      row[1] = row[0];
      row[0] = -row[1];
    }
    apply_post_transform(pt, row, K);
    if (K > 1) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k) best = row[k] > row[best] ? k : best;
      if (string_labels)
        out_s.push_back(best < n_classes ? labels_s[best] : "");
      else
        out_i.push_back(best < static_cast<int64_t>(labels_i.size()) ? labels_i[best] : best);
    } else {
      const bool hit = row[0] >= (pt == MlPostTransform::kNone ? 0.0 : 0.5);
      if (string_labels)
        out_s.push_back(hit ? labels_s[0] : "");
      else
        out_i.push_back(hit ? (labels_i.empty() ? 1 : labels_i[0]) : 0);
    }
  }
  set_labels(ctx, 0, string_labels, out_s, out_i);
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor z, make_tensor_from_doubles(DType::kFloat32, {x.rows, K}, scores));
    ctx.set_output(1, std::move(z));
  }
  return ok_status();
}

}  // namespace kiln
