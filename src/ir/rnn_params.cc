// Typed parameters of the recurrent ops (see rnn_params.h).
#include "ir/rnn_params.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

namespace kiln {
namespace {

struct ActSpec {
  const char* name;  // lower case
  RnnActKind kind;
  bool uses_alpha, uses_beta;
  float def_alpha, def_beta;
};

constexpr ActSpec kActSpecs[] = {
    {"relu", RnnActKind::kRelu, false, false, 0.f, 0.f},
    {"tanh", RnnActKind::kTanh, false, false, 0.f, 0.f},
    {"sigmoid", RnnActKind::kSigmoid, false, false, 0.f, 0.f},
    {"affine", RnnActKind::kAffine, true, true, 1.f, 0.f},
    {"leakyrelu", RnnActKind::kLeakyRelu, true, false, 0.01f, 0.f},
    {"thresholdedrelu", RnnActKind::kThresholdedRelu, true, false, 1.f, 0.f},
    {"scaledtanh", RnnActKind::kScaledTanh, true, true, 1.f, 1.f},
    {"hardsigmoid", RnnActKind::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"elu", RnnActKind::kElu, true, false, 1.f, 0.f},
    {"softsign", RnnActKind::kSoftsign, false, false, 0.f, 0.f},
    {"softplus", RnnActKind::kSoftplus, false, false, 0.f, 0.f},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<bool> flag(const Attrs& a, const char* name) {
  const int64_t v = a.get_int(name, 0);
  if (v != 0 && v != 1) return invalid_argument(std::string(name) + " must be 0 or 1; got " + std::to_string(v));
  return v == 1;
}

}  // namespace

Result<RnnParams> rnn_params(const Node& node) {
  const Attrs& a = node.attrs;
  RnnParams p;
  std::vector<std::string> defaults;
  switch (node.op) {
    case OpKind::kRNN:
      p.gates = 1;
      defaults = {"tanh"};
      break;
    case OpKind::kGRU:
      p.gates = 3;
      defaults = {"sigmoid", "tanh"};
      break;
    case OpKind::kLSTM:
      p.gates = 4;
      defaults = {"sigmoid", "tanh", "tanh"};
      break;
    default:
      return invalid_argument(std::string("not a recurrent op: ") + op_name(node.op));
  }
  const std::string direction = a.get_string("direction", "forward");
  if (direction == "forward") {
    p.direction = RnnDirection::kForward;
  } else if (direction == "reverse") {
    p.direction = RnnDirection::kReverse;
  } else if (direction == "bidirectional") {
    p.direction = RnnDirection::kBidirectional;
    p.num_directions = 2;
  } else {
    return invalid_argument("direction must be forward, reverse or bidirectional, got '" + direction + "'");
  }
  if (a.has("hidden_size")) {
    p.hidden_size = a.get_int("hidden_size", 0);
    if (p.hidden_size <= 0)
      return invalid_argument("hidden_size must be positive, got " + std::to_string(p.hidden_size));
  }
  const int64_t layout = a.get_int("layout", 0);
  if (layout != 0 && layout != 1) return invalid_argument("layout must be 0 or 1, got " + std::to_string(layout));
  p.batch_first = layout == 1;
  if (a.has("clip")) {
    p.has_clip = true;
    p.clip = a.get_float("clip", 0.f);
    if (!(p.clip > 0)) return invalid_argument("clip must be positive, got " + std::to_string(p.clip));
  }
  if (p.gates == 3) {
    KILN_ASSIGN_OR_RETURN(p.linear_before_reset, flag(a, "linear_before_reset"));
  }
  if (p.gates == 4) {
    KILN_ASSIGN_OR_RETURN(p.input_forget, flag(a, "input_forget"));
  }

  std::vector<std::string> names = a.get_strings("activations");
  const size_t per_dir = defaults.size(), dirs = static_cast<size_t>(p.num_directions);
  if (names.empty()) {
    for (size_t d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (dirs == 2 && names.size() == per_dir) {
    std::vector<std::string> twice = names;
    twice.insert(twice.end(), names.begin(), names.end());
    names = twice;
  }
  if (names.size() != per_dir * dirs)
    return invalid_argument("activations must list " + std::to_string(per_dir * dirs) + " functions, got " +
                            std::to_string(names.size()));
  const std::vector<float> alphas = a.get_floats("activation_alpha");
  const std::vector<float> betas = a.get_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string ln = lower(names[i]);
    const ActSpec* spec = nullptr;
    for (const ActSpec& s : kActSpecs)
      if (ln == s.name) spec = &s;
    if (!spec) return invalid_argument("activations: function '" + names[i] + "' is not an ONNX recurrent activation");
    RnnActivation act;
    act.kind = spec->kind;
    act.alpha = spec->def_alpha;
    act.beta = spec->def_beta;
    // Alphas and betas are consumed in order by the functions that take them.
    if (spec->uses_alpha && ai < alphas.size()) act.alpha = alphas[ai++];
    if (spec->uses_beta && bi < betas.size()) act.beta = betas[bi++];
    if (ln != defaults[i % per_dir]) p.default_activations = false;
    p.activations.push_back(act);
  }
  return p;
}

double rnn_activate(const RnnActivation& a, double x) {
  const double alpha = a.alpha, beta = a.beta;
  switch (a.kind) {
    case RnnActKind::kRelu:
      return x > 0 ? x : 0.0;
    case RnnActKind::kTanh:
      return std::tanh(x);
    case RnnActKind::kSigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case RnnActKind::kAffine:
      return alpha * x + beta;
    case RnnActKind::kLeakyRelu:
      return x >= 0 ? x : alpha * x;
    case RnnActKind::kThresholdedRelu:
      return x > alpha ? x : 0.0;
    case RnnActKind::kScaledTanh:
      return alpha * std::tanh(beta * x);
    case RnnActKind::kHardSigmoid:
      return std::max(0.0, std::min(1.0, alpha * x + beta));
    case RnnActKind::kElu:
      return x >= 0 ? x : alpha * (std::exp(x) - 1.0);
    case RnnActKind::kSoftsign:
      return x / (1.0 + std::fabs(x));
    case RnnActKind::kSoftplus:
      return std::log1p(std::exp(x));
  }
  return x;
}

}  // namespace kiln
