// KServe v2 HTTP/JSON encoding: infer requests (JSON tensors + binary tensor data extension) and responses,
// metadata, statistics and repository index documents.
#pragma once
#include <map>
#include <string>

#include "server/inference_server.h"

namespace kiln::server {

// How the client wants each output delivered (binary_data_output / per-output binary_data).
struct OutputPrefs {
  bool all_binary = false;
  std::map<std::string, bool> binary;  // per output name
  bool wants_binary(const std::string& name) const;
};

// Parses an infer request body. `header_length` is the Inference-Header-Content-Length value, or -1 when the
// header is absent (the whole body is JSON). Tensor sizes are checked against the JSON element count or the
// binary section before any tensor bytes are allocated. Errors are kInvalidArgument.
// binary_views: binary tensors become views into `body` (InferTensor::view, no `hold`) instead of copies; the
// caller must keep the body alive, rebase the views if it moves the body, and set `hold`.
// Inputs with a shared_memory_region parameter carry no data (resolve_shared_memory fills them).
// max_json_elements (0 = no cap): requests whose JSON has more values than this (counted by a cheap scan before
// any parsing, so the parser's memory stays bounded) are kInvalidArgument naming the cap (--http-max-json-elements).
ServerStatus parse_infer_request(const char* body, size_t size, int64_t header_length, InferRequest* request,
                                 OutputPrefs* prefs, bool binary_views = false, size_t max_json_elements = 0);

// Writes the response: JSON only, or JSON followed by binary output data when any output is binary
// (then *header_length is the JSON's size, else -1).
void write_infer_response(const InferResponse& response, const OutputPrefs& prefs, std::string* body,
                          int64_t* header_length);

// {"error": "..."}
std::string error_json(const std::string& message);

std::string server_metadata_json(const ServerMetadata& md);
std::string model_metadata_json(const ModelMetadata& md);
std::string model_config_json(const ModelConfig& config);
std::string model_stats_json(const std::vector<ModelStats>& stats);
std::string repository_index_json(const std::vector<RepositoryEntry>& entries);

// Depth of the deepest [ or { nesting outside strings (bounds the JSON parser's recursion).
size_t json_nesting_depth(const char* data, size_t size);

// An upper bound on the number of JSON values in `data` (commas + opening brackets + 1, outside strings): one
// pass, no allocation. Used to refuse bodies whose DOM would be too large before building it.
size_t json_element_bound(const char* data, size_t size);

}  // namespace kiln::server
