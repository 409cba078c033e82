// Value: what flows along a graph edge at run time — a tensor, a sequence of tensors, or an optional.
#pragma once
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

enum class ValueKind : uint8_t { kUnknown = 0, kTensor = 1, kSequence = 2, kOptional = 3 };

struct Value {
  ValueKind kind = ValueKind::kTensor;
  Tensor tensor;                 // kTensor, or the contained tensor of a present kOptional-of-tensor
  std::vector<Tensor> sequence;  // kSequence, or the contained sequence of a present kOptional-of-sequence
  bool has_value = true;         // kOptional only: false = empty optional
  ValueKind optional_of = ValueKind::kTensor;  // kOptional only: what it holds when present
  DType elem_dtype = DType::kUndefined;        // element type for empty sequences / absent optionals

  static Value of(Tensor t) {
    Value v;
    v.kind = ValueKind::kTensor;
    v.tensor = std::move(t);
    return v;
  }
  static Value of_sequence(std::vector<Tensor> items, DType elem) {
    Value v;
    v.kind = ValueKind::kSequence;
    v.sequence = std::move(items);
    v.elem_dtype = elem;
    return v;
  }
  bool is_tensor() const { return kind == ValueKind::kTensor; }
};

}  // namespace kiln
