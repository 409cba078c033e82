// Internal access to Engine's build and load-time state (CUDA device, per-node plans) for the runtime and backends.
#pragma once
#include <memory>
#include <vector>

#include "kiln/engine.h"
#include "runtime/backend.h"

namespace kiln {

struct EngineAccess {
  // Sets the device a GPU engine's weights and contexts go to; only before its first context (backend state).
  static void set_device(Engine& engine, int device) { engine.device_ = device; }
  // The per-node plans: plans[i] belongs to graph().nodes[i]; empty when the engine has none (trial engines).
  static const std::vector<NodePlan>& plans(const Engine& engine) {
    static const std::vector<NodePlan> kNone;
    return engine.plans_ ? *engine.plans_ : kNone;
  }
  // Build facts recorded after the engine was built (the INT8 accuracy guard's result); before it is shared.
  static EngineInfo& mutable_info(Engine& engine) { return engine.info_; }
  // Only before the engine's first context.
  static void set_plans(Engine& engine, std::vector<NodePlan> plans) {
    engine.plans_ = std::make_shared<const std::vector<NodePlan>>(std::move(plans));
  }
};

}  // namespace kiln
