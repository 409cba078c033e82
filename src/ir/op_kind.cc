// OpKind tables generated from ops.def.
#include "ir/op_kind.h"

#include <string>
#include <unordered_map>

namespace kiln {

namespace {
struct OpRow {
  OpKind kind;
  const char* name;
  const char* domain;
};
constexpr OpRow kRows[] = {
#define OP(kind, name, domain, id) {OpKind::k##kind, name, domain},
#include "ir/ops.def"
#undef OP
};

const OpRow* row_of(OpKind op) {
  for (const auto& r : kRows)
    if (r.kind == op) return &r;
  return nullptr;
}
}  // namespace

const char* op_name(OpKind op) {
  const OpRow* r = row_of(op);
  return r ? r->name : "Invalid";
}

const char* op_domain(OpKind op) {
  const OpRow* r = row_of(op);
  return r ? r->domain : "";
}

bool op_from_onnx(std::string_view domain, std::string_view name, OpKind* out) {
  static const auto* table = [] {
    auto* m = new std::unordered_map<std::string, OpKind>();
    for (const auto& r : kRows) (*m)[std::string(r.domain) + ":" + r.name] = r.kind;
    return m;
  }();
  std::string key = std::string(domain.empty() ? "ai.onnx" : domain) + ":" + std::string(name);
  auto it = table->find(key);
  if (it == table->end()) return false;
  *out = it->second;
  return true;
}

bool op_from_id(uint32_t id, OpKind* out) {
  const OpRow* r = row_of(static_cast<OpKind>(id));
  if (!r || id == 0) return false;
  *out = r->kind;
  return true;
}

bool is_quantization_op(OpKind op) {
  switch (op) {
    case OpKind::kQuantizeLinear: case OpKind::kDequantizeLinear: case OpKind::kQLinearConv:
    case OpKind::kQLinearMatMul: case OpKind::kMatMulInteger: case OpKind::kConvInteger:
    case OpKind::kDynamicQuantizeLinear:
      return true;
    default:
      return false;
  }
}

}  // namespace kiln
