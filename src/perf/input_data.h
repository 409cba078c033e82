// kiln perf's request inputs: shapes resolved from the model metadata, --shape and -b; data random, zero or JSON.
#pragma once
#include <vector>

#include "perf/client.h"

namespace kiln::perf {

// Returns one or more request input sets (a JSON file with several "data" entries gives several; workers
// cycle through them). Fails with a one-line message on an unknown --shape name, a dynamic dim without
// --shape, a batch size the model cannot take, or data that does not match the shapes.
Result<std::vector<RequestInputs>> make_request_inputs(const ModelInfo& model, const PerfOptions& options);

// Raw element bytes -> JSON-ready values are needed by the HTTP client; these helpers keep dtype logic here.
// Appends the elements of `t` as a JSON array body (no brackets) to `out`.
void append_json_values(const InputTensor& t, std::string* out);

}  // namespace kiln::perf
