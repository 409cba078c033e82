// Triton's classification extension: a requested output with parameter "classification" = k is returned as a BYTES
// tensor of its k highest values, each "<value>:<index>" or "<value>:<index>:<label>".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"
#include "server/inference_server.h"

namespace kiln::server {

// The "classification" parameter of a requested output: *k = 0 when absent; kInvalidArgument (naming the output)
// when it is not an integer > 0. Integers given as doubles (JSON 3.0) are accepted.
ServerStatus classification_count(const RequestedOutput& output, int64_t* k);

// Whether outputs of `dtype` can be classified: integer and floating-point types (not BOOL or BYTES).
bool classifiable(DType dtype);

// Label files: SchedulerConfig::load_labels (scheduler.h) reads each output's label_filename, one label per line,
// line i = class i (a trailing '\r' is dropped), defined in classification.cc.

// Top-k classification of `t`: begin >= 0 classifies each of rows [begin, begin + rows) along dim 0 over its
// flattened remaining elements (result shape [rows, k']); begin < 0 classifies the whole tensor as one item
// (shape [k']). k' = min(k, elements per item). Values are compared in the tensor's own type, ties go to the lower
// index, NaN sorts last; <value> is printed as std::to_string prints the type (floats with 6 decimals). The
// BYTES result goes to `out` like slice_rows() writes a tensor (into target's shared memory when it has one).
// `out->name` must be set. kInvalidArgument for an unclassifiable dtype.
ServerStatus classify(const Tensor& t, int64_t begin, int64_t rows, int64_t k, const std::vector<std::string>* labels,
                      InferTensor* out, const RequestedOutput* target);

}  // namespace kiln::server
