// Relabels an opset 11 or 12 ONNX model as opset 13 without changing what it computes, so that Q/DQ with per-channel
// axes (DequantizeLinear-13) can be inserted: attributes that became inputs become initializers, and Softmax-family
// ops (which flattened to 2-D before 13) keep their old meaning.
#pragma once
#include <string>

#include "kiln/status.h"
#include "onnx/onnx-ml.pb.h"

namespace kiln::calib {

// For ai.onnx opset 11 and 12 (earlier opsets are refused by the caller; 13 and later are left as they are):
// Squeeze / Unsqueeze / ReduceSum `axes` and Split `split` attributes become int64 initializer inputs; Dropout
// loses `ratio` only where it was an attribute (inference ignores it); Softmax / LogSoftmax / Hardmax over the last
// axis get axis=-1, any other axis (or an input of unknown rank) becomes Flatten(axis) -> op(axis=1) -> Reshape to
// the input's shape. Nested graphs are upgraded too. Sets the ai.onnx opset to 13. `base_dir`: external data.
Status upgrade_to_opset13(onnx::ModelProto& model, const std::string& base_dir);

}  // namespace kiln::calib
