// The accuracy guard's driver: split, calibrate, FP32 reference, sensitivity, doubling fallback, bisection.
#include "quant/guard/guard.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>

#include "onnx/importer.h"
#include "quant/calib/collect.h"
#include "quant/guard/budget.h"
#include "quant/guard/report.h"
#include "quant/guard/split.h"
#include "quant/guard/trial.h"
#include "runtime/builder.h"
#include "runtime/engine_access.h"

namespace kiln::guard {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string join(const std::vector<std::string>& names, size_t max_shown) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < max_shown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > max_shown) s += ", ... (" + std::to_string(names.size() - max_shown) + " more)";
  return s;
}

std::string budget_text(const std::vector<Constraint>& cs) {
  std::string s;
  for (const auto& c : cs) {
    char bound[32];
    std::snprintf(bound, sizeof bound, "%g", c.value);
    s += (s.empty() ? "" : ", ") + c.label() + (c.metric == Metric::kRelL2 ? " <= " : " >= ") + bound;
  }
  return s;
}

// The search over which layers stay in FP32; trials are memoized by their FP32 set.
class Search {
 public:
  Search(const TrialSetup& setup, GuardRun& run, bool progress) : setup_(setup), run_(run), progress_(progress) {}

  // Index of the trial with `fp32` layers in float (run now unless measured before).
  Result<int> trial(TrialKind kind, const std::set<std::string>& fp32, const std::string& layer = "") {
    auto it = memo_.find(fp32);
    if (it != memo_.end()) return it->second;
    const bool keep = kind != TrialKind::kSensitivity;
    auto t = run_trial(setup_, kind, fp32, keep, layer);
    if (!t.ok()) return t.status().with_context("accuracy guard trial " + std::to_string(run_.trials.size() + 1));
    const int index = static_cast<int>(run_.trials.size());
    run_.trials.push_back(std::move(t).value());
    Trial& tr = run_.trials.back();
    // Only the engine of the latest passing candidate is kept: the search ends on it (or rebuilds it).
    if (!tr.met) {
      tr.engine.reset();
    } else if (tr.engine) {
      if (engine_holder_ >= 0) run_.trials[engine_holder_].engine.reset();
      engine_holder_ = index;
    }
    memo_[fp32] = index;
    print(index, tr);
    return index;
  }

 private:
  void print(int index, const Trial& t) const {
    if (!progress_) return;
    const size_t total = run_.layers.size();
    std::string what;
    if (t.kind == TrialKind::kAllInt8) {
      what = "all " + std::to_string(total) + " layers int8";
    } else if (t.kind == TrialKind::kSensitivity) {
      what = "sensitivity, only " + t.layer + " int8";
    } else {
      std::vector<std::string> names;
      for (const auto& l : run_.layers)
        if (t.fp32_layers.count(l.name)) names.push_back(l.name);
      const size_t n = t.fp32_layers.size();
      what = (n == 1 ? std::string("the most sensitive layer") : "the " + std::to_string(n) + " most sensitive layers") +
             " in fp32 (" + join(names, 4) + "), " + std::to_string(t.int8_layers) + "/" + std::to_string(total) +
             " int8";
    }
    std::fprintf(stderr, "accuracy guard: trial %d (%s): %s%s, build %.3f s + run %.3f s\n", index + 1, what.c_str(),
                 describe_measured(setup_.constraints, t.measured, true).c_str(), t.met ? " met" : "", t.build_s,
                 t.run_s);
  }

  const TrialSetup& setup_;
  GuardRun& run_;
  bool progress_;
  std::map<std::set<std::string>, int> memo_;
  int engine_holder_ = -1;
};

// The FP32 sets of the doubling and bisection: the `n` most sensitive layers.
std::set<std::string> most_sensitive(const std::vector<int>& ranked, const std::vector<GuardLayer>& layers, int n) {
  std::set<std::string> s;
  for (int i = 0; i < n; ++i) s.insert(layers[ranked[i]].name);
  return s;
}

std::string failure_message(const GuardRun& run, const std::vector<int>& fallback_sizes) {
  const Trial& best = run.trials[run.best_trial];
  const Trial& first = run.trials[0];
  const size_t total = run.layers.size();
  std::string msg = "accuracy budget not met (" + budget_text(run.constraints) + "): the closest was " +
                    describe_measured(run.constraints, best.measured, false) + " with " +
                    std::to_string(best.int8_layers) + "/" + std::to_string(total) + " layers int8";
  if (best.kind == TrialKind::kSensitivity) msg += " (only " + best.layer + ")";
  msg += "; tried all " + std::to_string(total) + " layers int8 (" +
         describe_measured(run.constraints, first.measured, false) + ")";
  int sens = 0;
  for (const auto& t : run.trials) sens += t.kind == TrialKind::kSensitivity;
  if (sens) msg += ", " + std::to_string(sens) + " one-layer sensitivity runs";
  if (!fallback_sizes.empty()) {
    std::string sizes;
    for (int n : fallback_sizes) sizes += (sizes.empty() ? "" : ", ") + std::to_string(n);
    msg += ", then the " + sizes + " most sensitive layers in fp32";
  }
  char tail[96];
  std::snprintf(tail, sizeof tail, " (%zu trials, %.2f s)", run.trials.size(), run.total_s);
  return msg + tail + "; loosen --accuracy-budget or build with --precision fp32";
}

}  // namespace

Status check_guard_options(const BuildOptions& o) {
  if (o.accuracy_budget.empty()) {
    if (o.accuracy_samples != 0) return invalid_argument("--accuracy-samples needs --accuracy-budget");
    if (!o.accuracy_report.empty()) return invalid_argument("--accuracy-report needs --accuracy-budget");
    return ok_status();
  }
  KILN_RETURN_IF_ERROR(parse_budget(o.accuracy_budget).status());
  if (o.precision != "int8")
    return invalid_argument("--accuracy-budget applies to --precision int8 (this build is " + o.precision + ")");
  if (o.calib_dir.empty())
    return invalid_argument("--accuracy-budget needs --calib DIR: its held-back samples measure INT8 against FP32");
  if (o.accuracy_samples < 0)
    return invalid_argument("--accuracy-samples must be >= 0 (0: every 5th sample), got " +
                            std::to_string(o.accuracy_samples));
  return ok_status();
}

Result<GuardOutcome> run_accuracy_guard(const std::string& onnx_path, const BuildOptions& options, bool progress) {
  KILN_RETURN_IF_ERROR(check_guard_options(options));
  if (options.accuracy_budget.empty()) return invalid_argument("the accuracy guard needs --accuracy-budget");
  const auto start = Clock::now();
  KILN_ASSIGN_OR_RETURN(std::vector<BudgetTerm> terms, parse_budget(options.accuracy_budget));
  GuardRun run;
  run.model = onnx_path;
  run.device = options.device;
  run.backend = options.backend;
  run.budget = options.accuracy_budget;
  KILN_ASSIGN_OR_RETURN(run.split, split_samples(options.calib_dir, options.calib_batches, options.accuracy_samples));

  GuardOutcome out;
  auto t0 = Clock::now();
  KILN_ASSIGN_OR_RETURN(out.calibrated, calib::calibrate_model(onnx_path, options, progress, run.split.calibration));
  if (!out.calibrated.summary.calibrated) run.cache = options.calib_cache;
  run.calibration_s = seconds_since(t0);

  // The FP32 reference: the original model on the same device's backend, built once.
  t0 = Clock::now();
  TrialSetup setup;
  setup.model = &out.calibrated;
  setup.options = options;
  setup.options.input_dtypes.clear();  // held-back samples are in the model's own input types
  {
    BuildOptions fp32 = setup.options;
    fp32.precision = "fp32";
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_file(onnx_path));
    auto ref = build_engine_from_graph(graph, fp32, onnx_path);
    if (!ref.ok()) return ref.status().with_context("accuracy guard: the FP32 reference engine");
    for (const auto& dir : run.split.held_back) {
      KILN_ASSIGN_OR_RETURN(NamedValues sample, calib::load_sample(dir, (*ref)->inputs()));
      setup.inputs.push_back(std::move(sample));
    }
    KILN_ASSIGN_OR_RETURN(setup.fp32, run_samples(**ref, setup.inputs));
    std::vector<std::string> names;
    for (const auto& d : (*ref)->outputs()) names.push_back(d.name);
    KILN_ASSIGN_OR_RETURN(setup.constraints, bind_budget(terms, names));
    KILN_RETURN_IF_ERROR(check_measurable(setup.constraints, setup.fp32));
    run.constraints = setup.constraints;
    if (run.backend.empty()) run.backend = (*ref)->info().backend;
  }
  run.reference_s = seconds_since(t0);
  for (const auto& op : out.calibrated.targets.ops) run.layers.push_back(GuardLayer{op.layer, op.op_type});
  const int total = static_cast<int>(run.layers.size());
  if (progress)
    std::fprintf(stderr,
                 "accuracy guard: %s on %zu held-back samples (%zu calibrate%s), %d quantizable layers; FP32 "
                 "reference %.3f s\n",
                 budget_text(setup.constraints).c_str(), run.split.held_back.size(), run.split.calibration.size(),
                 run.cache.empty() ? "" : ("; scales from the cache " + run.cache).c_str(), total, run.reference_s);

  Search search(setup, run, progress);
  t0 = Clock::now();
  KILN_ASSIGN_OR_RETURN(int first, search.trial(TrialKind::kAllInt8, {}));
  run.search_s = seconds_since(t0);
  std::vector<int> fallback_sizes;
  if (run.trials[first].met) {
    run.final_trial = first;
  } else if (total > 1) {
    // Sensitivity: each layer alone in int8, every other layer float.
    t0 = Clock::now();
    std::set<std::string> everyone;
    for (const auto& l : run.layers) everyone.insert(l.name);
    for (auto& l : run.layers) {
      std::set<std::string> others = everyone;
      others.erase(l.name);
      KILN_ASSIGN_OR_RETURN(l.sensitivity_trial, search.trial(TrialKind::kSensitivity, others, l.name));
    }
    run.sensitivity_s = seconds_since(t0);
    std::vector<int> ranked(total);
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int a, int b) {
      const Trial &ta = run.trials[run.layers[a].sensitivity_trial], &tb = run.trials[run.layers[b].sensitivity_trial];
      return ta.score != tb.score ? ta.score > tb.score : ta.tiebreak > tb.tiebreak;
    });
    for (int r = 0; r < total; ++r) run.layers[ranked[r]].rank = r + 1;
    // Doubling groups of the most sensitive layers (1, 2, 4, ... at most total - 1), then bisection between the
    // last size that failed and the first that met, so that over-shoot is taken back.
    t0 = Clock::now();
    int lo = 0, hi = -1;
    for (int n = 1;; n *= 2) {
      const int size = std::min(n, total - 1);
      fallback_sizes.push_back(size);
      KILN_ASSIGN_OR_RETURN(int i, search.trial(TrialKind::kFallback, most_sensitive(ranked, run.layers, size)));
      if (run.trials[i].met) {
        hi = size;
        break;
      }
      lo = size;
      if (size == total - 1) break;
    }
    while (hi > 0 && hi - lo > 1) {
      const int mid = lo + (hi - lo) / 2;
      KILN_ASSIGN_OR_RETURN(int i, search.trial(TrialKind::kRefine, most_sensitive(ranked, run.layers, mid)));
      (run.trials[i].met ? hi : lo) = mid;
    }
    if (hi > 0) {
      KILN_ASSIGN_OR_RETURN(run.final_trial, search.trial(TrialKind::kRefine, most_sensitive(ranked, run.layers, hi)));
    }
    run.search_s += seconds_since(t0);
  }
  for (size_t i = 0; i < run.trials.size(); ++i)
    if (run.trials[i].int8_layers > 0 &&
        (run.best_trial < 0 || run.trials[i].score < run.trials[run.best_trial].score))
      run.best_trial = static_cast<int>(i);
  if (run.final_trial < 0) {
    run.total_s = seconds_since(start);
    if (!options.accuracy_report.empty()) KILN_RETURN_IF_ERROR(write_guard_report(options.accuracy_report, run));
    return failed_precondition(failure_message(run, fallback_sizes));
  }

  // The final configuration: its engine (rebuilt when the search dropped it, or for --input-dtype), Q/DQ model,
  // report and the result recorded in the engine.
  Trial& fin = run.trials[run.final_trial];
  out.fp32_layers = fin.fp32_layers;
  for (auto& l : run.layers) l.int8 = !out.fp32_layers.count(l.name);
  KILN_ASSIGN_OR_RETURN(out.qdq_bytes, calib::qdq_model_bytes(out.calibrated, out.fp32_layers));
  out.engine = std::move(fin.engine);
  if (!out.engine || !options.input_dtypes.empty()) {
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Graph> graph, import_onnx_bytes(out.qdq_bytes, out.calibrated.base_dir,
                                                                          onnx_path));
    KILN_ASSIGN_OR_RETURN(out.engine, build_engine_from_graph(graph, options, onnx_path));
  }
  run.total_s = seconds_since(start);
  out.summary = describe_measured(setup.constraints, fin.measured, true) + " on " +
                std::to_string(run.split.held_back.size()) + " held-back samples, " +
                std::to_string(fin.int8_layers) + "/" + std::to_string(total) + " layers int8";
  EngineInfo& info = EngineAccess::mutable_info(*out.engine);
  info.accuracy_guard = out.summary;
  info.layer_precision.clear();
  for (const auto& l : run.layers) info.layer_precision.emplace_back(l.name, l.int8 ? "int8" : "fp32");
  if (!options.accuracy_report.empty()) KILN_RETURN_IF_ERROR(write_guard_report(options.accuracy_report, run));
  if (!options.export_qdq.empty()) KILN_RETURN_IF_ERROR(calib::write_qdq_model(options.export_qdq, out.qdq_bytes));
  if (progress) {
    std::vector<std::string> fp32;
    for (const auto& l : run.layers)
      if (!l.int8) fp32.push_back(l.name);
    std::fprintf(stderr, "accuracy guard: %s%s; %zu trials, %.2f s\n", out.summary.c_str(),
                 fp32.empty() ? "" : (" (fp32: " + join(fp32, 8) + ")").c_str(), run.trials.size(), run.total_s);
  }
  return out;
}

}  // namespace kiln::guard
