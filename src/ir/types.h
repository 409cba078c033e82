// Static types of graph values: symbolic shapes, tensor/sequence/optional types.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/value.h"

namespace kiln {

// One dimension: a known size (value >= 0), a named symbol ("batch"), or unknown (value -1, no symbol).
struct Dim {
  int64_t value = -1;
  std::string symbol;
  static Dim known(int64_t v) { return Dim{v, {}}; }
  static Dim named(std::string s) { return Dim{-1, std::move(s)}; }
  bool is_known() const { return value >= 0; }
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
  std::string to_string() const;  // "3", "batch", "?"
};

struct Shape {
  bool rank_known = false;
  std::vector<Dim> dims;
  static Shape unknown_rank() { return Shape{}; }
  static Shape of(const std::vector<int64_t>& d);
  static Shape of_dims(std::vector<Dim> d) { return Shape{true, std::move(d)}; }
  size_t rank() const { return dims.size(); }
  bool fully_known() const;
  std::vector<int64_t> concrete() const;  // requires fully_known(); unknown dims come back as -1
  std::string to_string() const;  // "[1,3,batch,?]" or "[*]" for unknown rank
};

// Type of a value: tensor(dtype, shape), sequence(elem), optional(elem). dtype kUndefined = not yet inferred.
struct TypeInfo {
  ValueKind kind = ValueKind::kUnknown;
  DType dtype = DType::kUndefined;
  Shape shape;
  std::shared_ptr<TypeInfo> elem;  // element type of a sequence/optional

  static TypeInfo tensor(DType t, Shape s) { return TypeInfo{ValueKind::kTensor, t, std::move(s), nullptr}; }
  static TypeInfo tensor_unknown_shape(DType t) { return tensor(t, Shape::unknown_rank()); }
  static TypeInfo sequence_of(TypeInfo e) {
    return TypeInfo{ValueKind::kSequence, DType::kUndefined, {}, std::make_shared<TypeInfo>(std::move(e))};
  }
  static TypeInfo optional_of(TypeInfo e) {
    return TypeInfo{ValueKind::kOptional, DType::kUndefined, {}, std::make_shared<TypeInfo>(std::move(e))};
  }
  bool is_tensor() const { return kind == ValueKind::kTensor; }
  bool known() const { return kind != ValueKind::kUnknown; }
  std::string to_string() const;  // "float32[1,3,?,?]", "seq(int64[*])", "opt(...)"
};

}  // namespace kiln
