// What one accuracy-guard run measured and decided, and its JSON report (--accuracy-report; docs/int8.md).
#pragma once
#include <string>
#include <vector>

#include "quant/guard/budget.h"
#include "quant/guard/split.h"
#include "quant/guard/trial.h"

namespace kiln::guard {

struct GuardLayer {
  std::string name;             // qdq_model.h layer_names
  std::string op;               // Conv | MatMul | Gemm
  bool int8 = true;             // the final precision
  int sensitivity_trial = -1;   // index into GuardRun::trials of "only this layer int8"; -1: not measured
  int rank = 0;                 // 1 = most sensitive; 0: not ranked
};

struct GuardRun {
  std::string model, device, backend, budget;  // budget: the --accuracy-budget text
  std::string cache;                           // the calibration cache read instead of calibrating, if any
  std::vector<Constraint> constraints;
  SampleSplit split;
  std::vector<GuardLayer> layers;              // in graph order
  std::vector<Trial> trials;                   // in the order run
  int final_trial = -1;                        // the chosen configuration; -1: the budget was not met
  int best_trial = -1;                         // closest to the budget with at least one int8 layer
  // search: trial 1 and the fallback / bisection trials; sensitivity: the one-layer trials.
  double calibration_s = 0, reference_s = 0, sensitivity_s = 0, search_s = 0, total_s = 0;
};

// The report: format "kiln-accuracy-guard" version 1 with model, device, budget, samples (counts and folders),
// met, per-layer precision / sensitivity / rank / metrics with only that layer int8, the metrics per output before
// (all int8) and after (the final configuration), every trial, and timings (docs/int8.md lists the fields).
std::string guard_report_json(const GuardRun& run);
Status write_guard_report(const std::string& path, const GuardRun& run);

}  // namespace kiln::guard
