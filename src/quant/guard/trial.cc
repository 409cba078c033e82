// Building, running and judging one accuracy-guard trial.
#include "quant/guard/trial.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "onnx/importer.h"
#include "runtime/builder.h"

namespace kiln::guard {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const char* trial_kind_name(TrialKind k) {
  switch (k) {
    case TrialKind::kAllInt8: return "all_int8";
    case TrialKind::kSensitivity: return "sensitivity";
    case TrialKind::kFallback: return "fallback";
    case TrialKind::kRefine: return "refine";
  }
  return "?";
}

Result<SampleOutputs> run_samples(const Engine& engine, const std::vector<NamedValues>& inputs) {
  auto ctx = engine.create_context();
  SampleOutputs out;
  for (size_t s = 0; s < inputs.size(); ++s) {
    NamedValues values;
    Status st = ctx->run(inputs[s], &values);
    if (!st.ok()) return st.with_context("held-back sample " + std::to_string(s));
    out.push_back(std::move(values));
  }
  return out;
}

Status judge(const TrialSetup& setup, const SampleOutputs& outputs, Trial& trial) {
  KILN_ASSIGN_OR_RETURN(trial.metrics, measure_agreement(setup.fp32, outputs));
  trial.measured.clear();
  trial.met = true;
  trial.score = 0;
  trial.tiebreak = 0;
  std::set<std::string> constrained;
  for (const auto& c : setup.constraints) {
    auto it = trial.metrics.find(c.output);
    const double v = it == trial.metrics.end() ? std::nan("") : it->second.get(c.metric);
    trial.measured.push_back(v);
    trial.met = trial.met && meets(c, v);
    trial.score = std::max(trial.score, budget_fraction(c, v));
    if (it != trial.metrics.end() && constrained.insert(c.output).second) trial.tiebreak += it->second.rel_l2;
  }
  return ok_status();
}

Result<Trial> run_trial(const TrialSetup& setup, TrialKind kind, const std::set<std::string>& fp32_layers,
                        bool keep_engine, const std::string& layer) {
  Trial t;
  t.kind = kind;
  t.layer = layer;
  t.fp32_layers = fp32_layers;
  auto t0 = std::chrono::steady_clock::now();
  const calib::CalibratedModel& m = *setup.model;
  KILN_ASSIGN_OR_RETURN(std::string bytes, calib::qdq_model_bytes(m, fp32_layers, &t.int8_layers));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_bytes(bytes, m.base_dir, m.origin));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, build_engine_from_graph(graph, setup.options, m.origin));
  t.build_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(SampleOutputs outputs, run_samples(*engine, setup.inputs));
  t.run_s = seconds_since(t0);
  KILN_RETURN_IF_ERROR(judge(setup, outputs, t));
  if (keep_engine) t.engine = std::move(engine);
  return t;
}

std::string describe_measured(const std::vector<Constraint>& constraints, const std::vector<double>& measured,
                              bool with_budget) {
  std::string s;
  for (size_t i = 0; i < constraints.size() && i < measured.size(); ++i) {
    const Constraint& c = constraints[i];
    s += (s.empty() ? "" : ", ") + c.label() + " " + format_metric(c.metric, measured[i]);
    if (with_budget) {
      const bool ok = meets(c, measured[i]);
      const char* op = c.metric == Metric::kRelL2 ? (ok ? " <= " : " > ") : (ok ? " >= " : " < ");
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", c.value);
      s += op + std::string(bound);
    }
  }
  return s;
}

}  // namespace kiln::guard
