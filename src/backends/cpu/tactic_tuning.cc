// Build-time tactic tuning of the CPU backend's oneDNN kernels (see tactic_tuning.h).
#include "backends/cpu/tactic_tuning.h"

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "backends/cpu/onednn/common.h"
#include "runtime/engine_access.h"
#include "runtime/trial_inputs.h"

namespace kiln::cpu {

namespace {

bool supports_tactics(const NodePlan& p) {
  return p.backend == "cpu" && (p.kernel == "onednn_qconv" || p.kernel == "onednn_qmatmul");
}

// Switches tuning on for this thread while alive.
struct ScopedTuning {
  explicit ScopedTuning(onednn::TacticTuning* t) { onednn::set_active_tactic_tuning(t); }
  ~ScopedTuning() { onednn::set_active_tactic_tuning(nullptr); }
};

}  // namespace

Status tune_cpu_tactics(std::vector<NodePlan>& plans, const PlanRequest& request) {
  if (!request.info || !request.graph || !request.profiles) return ok_status();
  if (request.options && request.options->opt_level <= 0) return ok_status();
  // Opt-in (KILN_CPU_TACTICS=build): timings differ from build to build, so recorded tactics make engine bytes
  // differ too; by default the int8 kernels time their candidates in the context instead (onednn/common.h).
  if (const char* e = std::getenv("KILN_CPU_TACTICS"); !e || std::string(e) != "build") return ok_status();
  size_t candidates = 0;
  for (const NodePlan& p : plans) candidates += supports_tactics(p);
  if (candidates == 0) return ok_status();
  auto inputs = trial_inputs(*request.graph, *request.profiles, 4321);
  if (!inputs.ok()) {
    std::cerr << "kiln build: oneDNN implementations not timed (" << inputs.status().message() << ")\n";
    return ok_status();
  }
  Engine engine(request.graph, *request.info, *request.profiles);
  EngineAccess::set_plans(engine, plans);
  auto ctx = engine.create_context();
  onednn::TacticTuning tuning;
  Status ran;
  {
    ScopedTuning on(&tuning);
    NamedValues out;
    ran = ctx->run(*inputs, &out);
  }
  if (!ran.ok()) {
    std::cerr << "kiln build: oneDNN implementations not timed (" << ran.message() << ")\n";
    return ok_status();
  }
  std::map<const Node*, size_t> index;
  for (size_t i = 0; i < request.graph->nodes.size(); ++i) index[&request.graph->nodes[i]] = i;
  size_t tuned = 0, other = 0;
  std::map<std::string, int> picked;
  for (const auto& [node, choice] : tuning.chosen) {
    auto it = index.find(node);
    if (it == index.end() || it->second >= plans.size() || !supports_tactics(plans[it->second])) continue;
    plans[it->second].tactic = choice.first;
    plans[it->second].tactic_name = choice.second;
    ++tuned;
    if (choice.first != 0) ++other, ++picked[choice.second.substr(0, choice.second.find(" @ "))];
  }
  std::cerr << "kiln build: timed oneDNN implementations of " << tuned << " of " << candidates
            << " nodes: " << other << " run another than oneDNN's first choice";
  for (const auto& [name, n] : picked) std::cerr << (name == picked.begin()->first ? " (" : ", ") << n << " x " << name;
  std::cerr << (picked.empty() ? "" : ")") << "\n";
  return ok_status();
}

}  // namespace kiln::cpu
