// Agreement of an INT8 engine's outputs with the FP32 engine's over the held-back samples: top-1 agreement, worst
// cosine similarity and worst relative L2 error, per output.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "quant/guard/budget.h"

namespace kiln::guard {

struct OutputMetrics {
  double cosine = 1;   // min over samples of cos(int8, fp32), each sample's output flattened (worst: -1)
  double rel_l2 = 0;   // max over samples of ||int8 - fp32|| / ||fp32|| (inf when fp32 is all zeros and int8 is not)
  double top1 = 0;     // agreeing rows / rows, argmax over the last axis (first maximum; a NaN row disagrees)
  bool has_top1 = false;  // false: the output has no class axis (rank 0, or a last axis of fewer than 2)
  int64_t rows = 0;       // rows compared for top1, over all samples
  double get(Metric m) const;
};

// The outputs of one engine, one NamedValues per held-back sample (the order of the samples).
using SampleOutputs = std::vector<NamedValues>;

// Compares `int8` with `fp32` output by output (matched by name). Errors: an output missing, not a numeric tensor, or
// shaped differently in the two (names the output and sample index).
Result<std::map<std::string, OutputMetrics>> measure_agreement(const SampleOutputs& fp32, const SampleOutputs& int8);

// Checks that every constraint can be measured on the FP32 outputs: a numeric tensor output, and a last axis of at
// least 2 for top1. The message names the output and why.
Status check_measurable(const std::vector<Constraint>& constraints, const SampleOutputs& fp32);

}  // namespace kiln::guard
