// Internal access to Engine's load-time state (the CUDA device) for the runtime's build and load paths.
#pragma once
#include "kiln/engine.h"

namespace kiln {

struct EngineAccess {
  // Sets the device a GPU engine's weights and contexts go to; only before its first context (backend state).
  static void set_device(Engine& engine, int device) { engine.device_ = device; }
};

}  // namespace kiln
