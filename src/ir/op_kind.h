// OpKind: the enum generated from ops.def, and lookups between kinds, ONNX names and engine ids.
#pragma once
#include <cstdint>
#include <string_view>

namespace kiln {

enum class OpKind : uint16_t {
  kInvalid = 0,
#define OP(kind, name, domain, id) k##kind = id,
#include "ir/ops.def"
#undef OP
};

const char* op_name(OpKind op);    // ONNX op_type
const char* op_domain(OpKind op);  // "ai.onnx", "ai.onnx.ml", ...
// domain "" and "ai.onnx" are the same domain.
bool op_from_onnx(std::string_view domain, std::string_view name, OpKind* out);
bool op_from_id(uint32_t id, OpKind* out);
// Ops of explicit quantization: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, MatMulInteger,
// ConvInteger, DynamicQuantizeLinear (a model holding one builds at --precision int8 without calibration).
bool is_quantization_op(OpKind op);

}  // namespace kiln
