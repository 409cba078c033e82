// config.pbtxt: parsing (protobuf TextFormat), field validation, and checks against a built engine.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/status.h"
#include "server/model_config.pb.h"

namespace kiln::server {

// Parses `path` (text format). Errors read "<path>: line L col C: <what>" or "<path>: field <f>: <what>".
// Unknown fields are errors; the Triton fields in ignored_config_fields() are accepted and ignored.
Result<ModelConfig> parse_model_config(const std::string& path);
// Parses config text; `origin` names it in errors.
Result<ModelConfig> parse_model_config_text(const std::string& text, const std::string& origin);

// Parses a JSON model config (Triton's JSON form of ModelConfig, e.g. a load request's "config" parameter);
// unknown fields are errors. Errors read "<origin>: <what>".
Result<ModelConfig> parse_model_config_json(const std::string& json, const std::string& origin);

// Triton's batching auto-complete: when the config has no max_batch_size field, default_max_batch_size > 0, and
// every engine input and output has a dynamic first dim (and the config's listed tensors, if any, leave that dim
// out), sets max_batch_size = default_max_batch_size and, when the config has no scheduler, dynamic_batching {}.
// Returns whether it changed the config.
bool autocomplete_batching(ModelConfig* config, const Engine& engine, int default_max_batch_size);

// Field checks that need no engine (ranges, preferred sizes vs max_batch_size, priority levels, ...).
Status validate_model_config(const ModelConfig& config, const std::string& origin);

// Checks the config's inputs/outputs against the engine and fills what the config leaves out (an empty
// input or output list is completed from the engine, Triton's auto-complete). With max_batch_size > 0
// the engine's first dim of every input and output is the batch dim and must be dynamic.
Status complete_config_from_engine(ModelConfig* config, const Engine& engine, const std::string& origin);

// Versions (ascending) the policy selects among `available` (ascending). Default policy: latest 1.
std::vector<int64_t> select_versions(const ModelConfig& config, const std::vector<int64_t>& available);

// Whether GPU instances replay CUDA graphs: optimization.cuda.graphs when the config has an optimization.cuda
// block, else true (Kiln's default).
bool cuda_graphs_enabled(const ModelConfig& config);
// Whether GPU instances assemble batches in pinned host memory: optimization.input_pinned_memory.enable when
// given, else true.
bool pinned_inputs_enabled(const ModelConfig& config);
// parameters { key: "intra_op_thread_count" value: { string_value: "N" } } (the key Triton's ONNX Runtime backend
// reads): intra-op threads per CPU instance; 0 when absent (the server divides its cores among the instances).
int intra_op_thread_count(const ModelConfig& config);
// Fields set in the config that are accepted for Triton compatibility but not acted on ("platform",
// "optimization.input_pinned_memory", ...); parse_model_config logs one warning line naming them.
std::vector<std::string> ignored_config_fields(const ModelConfig& config);

// Total execution contexts the instance groups ask for (>= 1) and whether they ask for a GPU.
int instance_count(const ModelConfig& config);
bool wants_gpu(const ModelConfig& config);

}  // namespace kiln::server
