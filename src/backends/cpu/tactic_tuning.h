// Build time: which oneDNN implementation each CPU node runs (its plan's tactic), chosen by timing.
#pragma once
#include <vector>

#include "runtime/backend.h"

namespace kiln::cpu {

// oneDNN's first choice is not always its fastest implementation on this CPU: at batch 1 its AMX int8 kernels ran
// MobileNetV2, EfficientNet-B0 and ShuffleNetV2 20-70% slower than its AVX512-VNNI ones, while ResNet-50 wants AMX.
// Runs the planned engine once on synthetic inputs at the first profile's optimum shapes with tuning switched on
// (onednn/common.h TacticTuning): each node whose kernel supports tactics (onednn_qconv, onednn_qmatmul) times up to four of oneDNN's
// implementations at its shapes and records the fastest, which goes into its plan (tactic = position in oneDNN's
// list, tactic_name = the implementation's name and shape; `kiln inspect` prints both). Prints one line. Opt-in
// (KILN_CPU_TACTICS=build: recorded timings make engine bytes differ between builds; by default the kernels time
// their candidates in the context instead); no-op at opt level 0 and when no node supports tactics; a model that
// cannot run on synthetic inputs keeps oneDNN's first choices.
Status tune_cpu_tactics(std::vector<NodePlan>& plans, const PlanRequest& request);

}  // namespace kiln::cpu
