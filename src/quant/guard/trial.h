// One trial of the accuracy guard: the Q/DQ model with a set of layers in FP32, built into an engine for the target
// device and run on the held-back samples, measured against the FP32 engine's outputs.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "quant/calib/int8_model.h"
#include "quant/guard/budget.h"
#include "quant/guard/metrics.h"

namespace kiln::guard {

// What every trial shares.
struct TrialSetup {
  const calib::CalibratedModel* model = nullptr;
  BuildOptions options;                    // the build's options (precision int8, device, shapes, profiles)
  std::vector<NamedValues> inputs;         // held-back samples
  SampleOutputs fp32;                      // the FP32 engine's outputs on them
  std::vector<Constraint> constraints;
};

enum class TrialKind { kAllInt8, kSensitivity, kFallback, kRefine };
const char* trial_kind_name(TrialKind k);  // "all_int8" | "sensitivity" | "fallback" | "refine"

struct Trial {
  TrialKind kind = TrialKind::kAllInt8;
  std::string layer;                       // kSensitivity: the one layer quantized
  std::set<std::string> fp32_layers;
  int int8_layers = 0;
  std::map<std::string, OutputMetrics> metrics;  // per output
  std::vector<double> measured;            // per constraint (setup.constraints order)
  bool met = false;
  double score = 0;     // max over constraints of budget_fraction: <= 1 where met; the layer's sensitivity
  double tiebreak = 0;  // sum over constrained outputs of rel_l2 (orders equal scores, e.g. top1 ties)
  double build_s = 0, run_s = 0;
  std::shared_ptr<Engine> engine;          // kept only when asked
};

// Runs `engine` on every sample.
Result<SampleOutputs> run_samples(const Engine& engine, const std::vector<NamedValues>& inputs);

// Measures `trial.metrics`, `measured`, `met`, `score` and `tiebreak` from `outputs`.
Status judge(const TrialSetup& setup, const SampleOutputs& outputs, Trial& trial);

// Builds and measures the model with `fp32_layers` in float. `keep_engine`: keep the engine in the result.
Result<Trial> run_trial(const TrialSetup& setup, TrialKind kind, const std::set<std::string>& fp32_layers,
                        bool keep_engine, const std::string& layer = "");

// "cosine(logits) 0.999123 >= 0.999, top1(logits) 1.000000 >= 0.99" (each constraint; `with_budget`: the bound).
std::string describe_measured(const std::vector<Constraint>& constraints, const std::vector<double>& measured,
                              bool with_budget);

}  // namespace kiln::guard
