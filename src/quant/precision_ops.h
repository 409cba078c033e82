// The precision allow-list: which ops may run in float16/bfloat16 and which of their inputs/outputs are the float type
// T.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/op_kind.h"

namespace kiln {

// One allow-listed op. Input/output sets are bit masks over indices 0..31; `all_inputs` covers variadic ops.
struct LowPrecisionOp {
  OpKind op = OpKind::kInvalid;
  uint32_t t_inputs = 0;        // inputs of the float type T: converted to the target type
  bool all_inputs = false;      // every input is T (Concat, FusedElementwise)
  uint32_t maybe_t_inputs = 0;  // subset of t_inputs that is T only when it is a float (Attention's mask may be bool)
  uint32_t t_outputs = 0;       // outputs of type T: they carry the target type afterwards
  bool all_outputs = false;     // every output is T (Split)
  uint32_t fp32_outputs = 0;    // outputs that stay float32 by the op's contract (LayerNormalization's stash outputs)
  // Data movement: lowered only when one of its T inputs already arrives in the target type, so that a
  // Reshape between two float32 ops does not get a pair of Casts around it.
  bool follows_input = false;
};

// The allow-list (one entry per op, see precision_ops.cc). An op not listed always stays float32.
const std::vector<LowPrecisionOp>& low_precision_ops();
// The entry for `op`, or nullptr when the op is not allow-listed.
const LowPrecisionOp* find_low_precision_op(OpKind op);

inline bool is_t_input(const LowPrecisionOp& spec, size_t i) {
  return spec.all_inputs || (i < 32 && (spec.t_inputs >> i) & 1u);
}
inline bool is_t_output(const LowPrecisionOp& spec, size_t i) {
  return spec.all_outputs || (i < 32 && (spec.t_outputs >> i) & 1u);
}

}  // namespace kiln
