// The parsed form of the fused ops' attributes (docs/fused-ops.md): activations and FusedElementwise programs.
// Shared by shape inference, the reference kernels, the CUDA kernels and the fusion passes, so the contract is
// parsed in one place. Parsing validates everything; an error names the node.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::fused {

// The `activation` attribute of FusedConv and FusedMatMul.
enum class ActKind : uint8_t {
  kNone,
  kRelu,
  kLeakyRelu,
  kSigmoid,
  kTanh,
  kClip,
  kSilu,
  kGelu,
  kGeluTanh,
  kHardSigmoid,
  kHardSwish
};

struct Activation {
  ActKind kind = ActKind::kNone;
  // LeakyRelu: alpha = slope (default 0.01). Clip: alpha = min, beta = max (defaults -inf, +inf).
  // HardSigmoid: y = max(0, min(1, alpha*x + beta)) (defaults 0.2, 0.5). Unused otherwise.
  float alpha = 0.f;
  float beta = 0.f;
};

// Reads activation / activation_alpha / activation_beta of `node` (defaults filled in).
Result<Activation> parse_activation(const Node& node);
// The attribute spelling of `kind` ("" for kNone).
const char* activation_name(ActKind kind);
// nullopt when `name` is not an activation name ("" is kNone).
std::optional<ActKind> activation_from_name(std::string_view name);
// Writes activation attributes into `attrs` (only those the kind uses).
void set_activation(Attrs& attrs, const Activation& act);

// FusedElementwise step ops. Binary: Add..Min. Unary: Neg..Ceil. LeakyRelu (x, #alpha), Clip (x, #min, #max).
enum class EwOp : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kNeg,
  kAbs,
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kErf,
  kGelu,
  kGeluTanh,
  kSilu,
  kFloor,
  kCeil,
  kLeakyRelu,
  kClip
};

const char* ew_op_name(EwOp op);
std::optional<EwOp> ew_op_from_name(std::string_view name);
// Number of operands a step of `op` takes (1, 2 or 3).
int ew_arity(EwOp op);

struct Operand {
  enum class Kind : uint8_t { kInput, kStep, kConst };
  Kind kind = Kind::kInput;
  int index = 0;                  // kInput: input number; kStep: earlier step number
  float value = 0.f;              // kConst
  std::string to_string() const;  // "i0", "s2", "#0.5" (round-trips the float exactly)
};

struct Step {
  EwOp op = EwOp::kAdd;
  std::vector<Operand> args;      // ew_arity(op) operands
  std::string to_string() const;  // the program line
};

struct Program {
  std::vector<Step> steps;  // the output is the last step's result
};

// Parses and validates a program over `num_inputs` inputs: op names, operand counts, operand references
// (i<k> < num_inputs, s<j> earlier than the step), constants, and that LeakyRelu/Clip parameters are constants.
Result<Program> parse_program(const std::vector<std::string>& lines, size_t num_inputs, const Node& node);
// The `program` attribute of a FusedElementwise node, parsed against its input count.
Result<Program> parse_program(const Node& node);

// FusedAddLayerNorm's R: its dims, leading 1s dropped, equal X's trailing dims, so that element i of X pairs with
// R[i % numel(R)] (a full-shape R, or rows repeating over X's leading dims).
bool is_repeating_suffix(const std::vector<int64_t>& r_dims, const std::vector<int64_t>& x_dims);

}  // namespace kiln::fused
