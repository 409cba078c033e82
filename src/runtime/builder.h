// Building engines: ONNX file or in-memory graph -> optimized, precision-lowered, placed and tuned engine.
#pragma once
#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln {

// `graph` must have inferred types (import_onnx_* does that); it is modified in place. `source` names the model
// in messages and in EngineInfo. Used by build_from_onnx and by tests that build engines from hand-made graphs.
Result<std::shared_ptr<Engine>> build_engine_from_graph(std::shared_ptr<Graph> graph, const BuildOptions& options,
                                                        const std::string& source);

}  // namespace kiln
