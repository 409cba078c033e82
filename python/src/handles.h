// The objects Python holds: an Engine with the byte ranges of its constants, and a context that keeps its engine
// alive and serializes its runs.
#pragma once
#include <memory>
#include <mutex>

#include "kiln/engine.h"
#include "tensors.h"

namespace kiln::py {

struct EngineHandle {
  std::shared_ptr<Engine> engine;
  ByteRanges constants;  // the engine's initializer bytes: outputs aliasing them are copied before hand-off
  explicit EngineHandle(std::shared_ptr<Engine> e);
};

struct ContextHandle {
  std::shared_ptr<EngineHandle> engine;  // declared first: destroyed after the context that references it
  std::unique_ptr<ExecutionContext> context;
  std::mutex mu;  // one run at a time per context (runs release the GIL; other contexts run in parallel)
  int threads = 0;
  double d2d_ms = 0;  // the last run's device-to-device output copies (0: none); guarded by mu
  explicit ContextHandle(std::shared_ptr<EngineHandle> e, int threads);
};

}  // namespace kiln::py
