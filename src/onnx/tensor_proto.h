// Conversions between ONNX TensorProto/SequenceProto/OptionalProto and Kiln tensors and values.
#pragma once
#include <string>

#include "kiln/value.h"

namespace onnx {
class TensorProto;
}

namespace kiln {

// Decodes a TensorProto (raw or typed fields, packed sub-byte types, external data). External data
// paths are resolved against `base_dir` and must stay inside it. Every size is checked against the dims.
Result<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir);
// Encodes a tensor into raw_data (typed string_data for strings; sub-byte types packed).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

// Reads a .pb file holding a TensorProto, SequenceProto or OptionalProto (chosen by `kind`, or sniffed
// when kUnknown). `name_out` gets the stored name, if any.
Result<Value> load_value_pb(const std::string& path, ValueKind kind = ValueKind::kUnknown, std::string* name_out = nullptr);
Status save_value_pb(const std::string& path, const Value& v, const std::string& name);

}  // namespace kiln
