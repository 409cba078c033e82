// Attributes of the recurrent ops (RNN, GRU, LSTM) parsed and checked once: direction, hidden_size, activations with
// their alpha/beta, clip, layout, linear_before_reset (GRU) and input_forget (LSTM). Shared by shape inference and
// every backend. Errors are invalid_argument without a node prefix (callers add theirs) and name the attribute.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// The activation functions ONNX allows in a recurrent cell (names are case-insensitive).
enum class RnnActKind {
  kRelu,
  kTanh,
  kSigmoid,
  kAffine,
  kLeakyRelu,
  kThresholdedRelu,
  kScaledTanh,
  kHardSigmoid,
  kElu,
  kSoftsign,
  kSoftplus
};
struct RnnActivation {
  RnnActKind kind = RnnActKind::kTanh;
  float alpha = 0.f, beta = 0.f;  // the function's own defaults unless activation_alpha / activation_beta set them
};

enum class RnnDirection { kForward, kReverse, kBidirectional };

struct RnnParams {
  int gates = 1;  // 1 (RNN), 3 (GRU), 4 (LSTM)
  RnnDirection direction = RnnDirection::kForward;
  int64_t num_directions = 1;  // 2 when bidirectional
  int64_t hidden_size = -1;    // -1 when the attribute is absent (R's last dim gives it)
  bool batch_first = false;    // layout == 1
  bool has_clip = false;
  float clip = 0.f;                  // positive when has_clip
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM
  // acts_per_direction() * num_directions entries, direction-major. Absent: the op's defaults (RNN: Tanh; GRU:
  // Sigmoid, Tanh; LSTM: Sigmoid, Tanh, Tanh); a bidirectional node listing one direction's functions uses them for
  // both.
  std::vector<RnnActivation> activations;
  bool default_activations = true;  // every function is the op's default

  size_t acts_per_direction() const { return gates == 1 ? 1 : (gates == 3 ? 2 : 3); }
  // Whether direction `dir` runs backwards in time.
  bool reversed(int64_t dir) const { return dir == 1 || direction == RnnDirection::kReverse; }
  const RnnActivation& act(int64_t dir, size_t k) const {
    return activations[static_cast<size_t>(dir) * acts_per_direction() + k];
  }
};

// For a node of op RNN, GRU or LSTM. invalid_argument naming the attribute when direction is not forward / reverse /
// bidirectional, hidden_size is not positive, layout / linear_before_reset / input_forget is not 0 or 1, clip is not
// positive, activations has the wrong count or names a function ONNX does not define.
Result<RnnParams> rnn_params(const Node& node);

// Applies activation `a` to x (the ONNX formulas: Affine alpha*x+beta, ScaledTanh alpha*tanh(beta*x), ...).
double rnn_activate(const RnnActivation& a, double x);

}  // namespace kiln
