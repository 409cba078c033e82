// The agreement metrics of the accuracy guard over held-back samples.
#include "quant/guard/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::guard {

namespace {

bool numeric(DType t) { return t != DType::kString && t != DType::kUndefined; }

const Value* find_output(const NamedValues& v, const std::string& name) {
  for (const auto& [n, value] : v)
    if (n == name) return &value;
  return nullptr;
}

// Index of the first maximum of row [p, p + n), -1 when the row holds a NaN.
int64_t argmax_row(const Tensor& t, int64_t p, int64_t n) {
  int64_t best = -1;
  double best_v = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double v = t.as_double(p + i);
    if (std::isnan(v)) return -1;
    if (best < 0 || v > best_v) best = i, best_v = v;
  }
  return best;
}

}  // namespace

double OutputMetrics::get(Metric m) const {
  switch (m) {
    case Metric::kTop1: return has_top1 ? top1 : std::numeric_limits<double>::quiet_NaN();
    case Metric::kCosine: return cosine;
    case Metric::kRelL2: return rel_l2;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

Result<std::map<std::string, OutputMetrics>> measure_agreement(const SampleOutputs& fp32, const SampleOutputs& int8) {
  if (fp32.size() != int8.size()) return internal_error("accuracy guard: sample counts differ");
  std::map<std::string, OutputMetrics> out;
  std::map<std::string, int64_t> agree;
  for (size_t s = 0; s < fp32.size(); ++s) {
    for (const auto& [name, ref] : fp32[s]) {
      const Value* got = find_output(int8[s], name);
      const std::string where = "output '" + name + "' of held-back sample " + std::to_string(s);
      if (!got) return internal_error("accuracy guard: the INT8 engine did not return " + where);
      if (ref.kind != ValueKind::kTensor || got->kind != ValueKind::kTensor || !numeric(ref.tensor.dtype()) ||
          !numeric(got->tensor.dtype()))
        continue;  // check_measurable refuses constraints on these; nothing to report
      const Tensor &f = ref.tensor, &q = got->tensor;
      if (f.dims() != q.dims())
        return internal_error("accuracy guard: " + where + " is " + dims_to_string(f.dims()) + " in FP32 and " +
                              dims_to_string(q.dims()) + " in INT8");
      OutputMetrics& m = out[name];
      double dot = 0, ff = 0, qq = 0, dd = 0;
      for (int64_t i = 0; i < f.numel(); ++i) {
        const double a = f.as_double(i), b = q.as_double(i);
        dot += a * b, ff += a * a, qq += b * b, dd += (b - a) * (b - a);
      }
      double cos = ff == 0 && qq == 0 ? 1.0 : ff == 0 || qq == 0 ? 0.0 : dot / (std::sqrt(ff) * std::sqrt(qq));
      double rel = dd == 0 ? 0.0 : ff == 0 ? std::numeric_limits<double>::infinity() : std::sqrt(dd / ff);
      if (!std::isfinite(dot + ff + qq + dd)) {  // a NaN or inf anywhere: the worst agreement, never a pass
        cos = -1.0;
        rel = std::numeric_limits<double>::infinity();
      }
      cos = std::clamp(cos, -1.0, 1.0);
      m.cosine = std::min(m.cosine, cos);
      m.rel_l2 = std::max(m.rel_l2, rel);
      const int64_t classes = f.rank() ? f.dims().back() : 0;
      if (classes >= 2) {
        m.has_top1 = true;
        for (int64_t p = 0; p < f.numel(); p += classes) {
          const int64_t a = argmax_row(f, p, classes), b = argmax_row(q, p, classes);
          agree[name] += a >= 0 && a == b;
          m.rows++;
        }
      }
    }
  }
  for (auto& [name, m] : out)
    if (m.has_top1) m.top1 = m.rows ? static_cast<double>(agree[name]) / m.rows : 1.0;
  return out;
}

Status check_measurable(const std::vector<Constraint>& constraints, const SampleOutputs& fp32) {
  for (const auto& c : constraints)
    for (const auto& sample : fp32) {
      const Value* v = find_output(sample, c.output);
      if (!v) continue;
      if (v->kind != ValueKind::kTensor || !numeric(v->tensor.dtype()))
        return invalid_argument("--accuracy-budget: output '" + c.output +
                                "' is not a numeric tensor; name the outputs the budget applies to (OUTPUT=METRIC:VALUE)");
      const Tensor& t = v->tensor;
      if (c.metric == Metric::kTop1 && (t.rank() == 0 || t.dims().back() < 2))
        return invalid_argument("--accuracy-budget: top1 on output '" + c.output + "' of shape " +
                                dims_to_string(t.dims()) +
                                ": top1 needs a class axis (the last) of at least 2; use cosine or rel_l2 there");
    }
  return ok_status();
}

}  // namespace kiln::guard
