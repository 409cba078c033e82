// ONNX importer: ModelProto -> IR Graph (normalized to the newest opset's op forms, types inferred).
#pragma once
#include <memory>
#include <string>

#include "ir/graph.h"

namespace kiln {

constexpr int64_t kMaxSupportedOpset = 25;     // ai.onnx opset of the pinned onnx package (1.20.1)
constexpr int64_t kMinSupportedOpset = 7;
constexpr size_t kMaxModelFileBytes = size_t{2} << 30;  // protobuf's own 2 GiB limit

struct ImportOptions {
  bool infer_types = true;  // run shape inference after import
};

// Imports a model file; external data is read relative to the file's folder. Errors name the file
// and, where one is at fault, the node and op.
Result<std::shared_ptr<Graph>> import_onnx_file(const std::string& path, const ImportOptions& options = {});
// Imports serialized ModelProto bytes (external data relative to `base_dir`). `origin` names the source in errors.
Result<std::shared_ptr<Graph>> import_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                                 const std::string& origin, const ImportOptions& options = {});

}  // namespace kiln
