// Per-model bf16/float32 choice for the CPU backend's convolutions and matmuls (see precision_choice.h).
#include "backends/cpu/precision_choice.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "backends/cpu/onednn/common.h"
#include "runtime/engine_access.h"
#include "runtime/trial_inputs.h"

namespace kiln::cpu {

namespace {

struct Choice {
  bool conv_bf16 = true, matmul_bf16 = true;
  std::string describe(bool has_conv, bool has_matmul) const {
    std::string s;
    if (has_conv) s += std::string("convolutions ") + (conv_bf16 ? "bf16" : "float32");
    if (has_matmul) s += std::string(s.empty() ? "" : ", ") + "matmuls " + (matmul_bf16 ? "bf16" : "float32");
    return s;
  }
};

// The fastest of `runs` wall-clock runs in ms.
Result<double> time_runs(ExecutionContext& ctx, const NamedValues& inputs, int runs) {
  NamedValues out;
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    KILN_RETURN_IF_ERROR(ctx.run(inputs, &out));
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

bool int8_float_in_bf16(const PlanRequest& request) {
  return request.info && request.info->precision == "int8" && request.options &&
         request.options->int8_float != "fp32" && onednn::native_bf16();
}

Status choose_bf16_kernel_classes(std::vector<NodePlan>& plans, const PlanRequest& request) {
  if (!request.info || !request.graph || !request.profiles) return ok_status();
  const std::string& precision = request.info->precision;
  const bool int8_floats = int8_float_in_bf16(request);
  if (int8_floats) {  // the CPU nodes with float32 results compute in bf16; not timed: the same engine every build
    for (size_t i = 0; i < plans.size() && i < request.graph->nodes.size(); ++i) {
      const Node& n = request.graph->nodes[i];
      const TypeInfo* t = n.has_output(0) ? request.graph->type_of(n.outputs[0]) : nullptr;
      if (plans[i].backend == "cpu" && t && t->is_tensor() && t->dtype == DType::kFloat32)
        plans[i].precision = DType::kBFloat16;
    }
    return ok_status();
  }
  if ((precision != "bf16" && precision != "best" && !int8_floats) || !onednn::native_bf16()) return ok_status();
  if (request.options && request.options->opt_level <= 0) return ok_status();
  std::vector<size_t> convs, matmuls;
  for (size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].backend != "cpu") continue;
    if (plans[i].kernel == "onednn_conv") convs.push_back(i);
    if (plans[i].kernel == "onednn_matmul") matmuls.push_back(i);
  }
  if (convs.empty() && matmuls.empty()) return ok_status();
  auto apply = [&](std::vector<NodePlan>& p, const Choice& c) {
    for (size_t i : convs) p[i].precision = c.conv_bf16 ? DType::kBFloat16 : DType::kFloat32;
    for (size_t i : matmuls) p[i].precision = c.matmul_bf16 ? DType::kBFloat16 : DType::kFloat32;
  };
  std::vector<Choice> candidates{{true, true}};
  if (!convs.empty()) candidates.push_back({false, true});
  if (!matmuls.empty()) candidates.push_back({true, false});
  if (!convs.empty() && !matmuls.empty()) candidates.push_back({false, false});

  auto inputs = trial_inputs(*request.graph, *request.profiles, 4321);
  std::ostringstream line;
  const bool hc = !convs.empty(), hm = !matmuls.empty();
  size_t best = 0;
  if (inputs.ok()) {
    // One intra-op thread (robust against other load on the machine: a descheduled OpenMP worker stalls every
    // barrier), the candidates interleaved over three rounds, the fastest run of each kept.
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<std::unique_ptr<ExecutionContext>> contexts;
    std::vector<double> ms(candidates.size(), 1e30);
    Status failed;
    for (size_t c = 0; c < candidates.size() && failed.ok(); ++c) {
      std::vector<NodePlan> trial = plans;
      apply(trial, candidates[c]);
      engines.push_back(std::make_unique<Engine>(request.graph, *request.info, *request.profiles));
      EngineAccess::set_plans(*engines.back(), trial);
      contexts.push_back(engines.back()->create_context());
      contexts.back()->set_num_threads(1);
      Result<double> warm = time_runs(*contexts.back(), *inputs, 2);  // first runs build primitives, reorder weights
      if (!warm.ok()) failed = warm.status();
      else if (c == 0 && *warm > 2000) failed = failed_precondition("a run takes " + std::to_string(*warm) + " ms");
    }
    for (int round = 0; round < 3 && failed.ok(); ++round)
      for (size_t c = 0; c < candidates.size() && failed.ok(); ++c) {
        Result<double> t = time_runs(*contexts[c], *inputs, 3);
        if (!t.ok()) failed = t.status();
        else ms[c] = std::min(ms[c], *t);
      }
    if (!failed.ok()) {
      line << "not timed (" << failed.message() << ")";
    } else {
      for (size_t c = 0; c < candidates.size(); ++c) {
        line << (c ? "; " : "") << candidates[c].describe(hc, hm) << " " << ms[c] << " ms";
        if (ms[c] < ms[best] && ms[c] < 0.95 * ms[0]) best = c;
      }
    }
  } else {
    line << "not timed (" << inputs.status().message() << ")";
  }
  apply(plans, candidates[best]);
  std::cerr << "kiln build: bf16 or float32 per kernel class, whole runs on synthetic inputs: " << line.str()
            << "; keeping " << candidates[best].describe(hc, hm) << "\n";
  return ok_status();
}

}  // namespace kiln::cpu
