// Parsing and validation of the fused ops' activation attributes and FusedElementwise programs.
#include "ir/infer/fused_ops.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace kiln::fused {
namespace {

struct ActName {
  ActKind kind;
  const char* name;
};
constexpr ActName kActNames[] = {
    {ActKind::kNone, ""},
    {ActKind::kRelu, "Relu"},
    {ActKind::kLeakyRelu, "LeakyRelu"},
    {ActKind::kSigmoid, "Sigmoid"},
    {ActKind::kTanh, "Tanh"},
    {ActKind::kClip, "Clip"},
    {ActKind::kSilu, "Silu"},
    {ActKind::kGelu, "Gelu"},
    {ActKind::kGeluTanh, "GeluTanh"},
    {ActKind::kHardSigmoid, "HardSigmoid"},
    {ActKind::kHardSwish, "HardSwish"},
};

struct EwName {
  EwOp op;
  const char* name;
  int arity;
};
constexpr EwName kEwNames[] = {
    {EwOp::kAdd, "Add", 2},
    {EwOp::kSub, "Sub", 2},
    {EwOp::kMul, "Mul", 2},
    {EwOp::kDiv, "Div", 2},
    {EwOp::kPow, "Pow", 2},
    {EwOp::kMax, "Max", 2},
    {EwOp::kMin, "Min", 2},
    {EwOp::kNeg, "Neg", 1},
    {EwOp::kAbs, "Abs", 1},
    {EwOp::kRelu, "Relu", 1},
    {EwOp::kSigmoid, "Sigmoid", 1},
    {EwOp::kTanh, "Tanh", 1},
    {EwOp::kExp, "Exp", 1},
    {EwOp::kLog, "Log", 1},
    {EwOp::kSqrt, "Sqrt", 1},
    {EwOp::kReciprocal, "Reciprocal", 1},
    {EwOp::kErf, "Erf", 1},
    {EwOp::kGelu, "Gelu", 1},
    {EwOp::kGeluTanh, "GeluTanh", 1},
    {EwOp::kSilu, "Silu", 1},
    {EwOp::kFloor, "Floor", 1},
    {EwOp::kCeil, "Ceil", 1},
    {EwOp::kLeakyRelu, "LeakyRelu", 2},
    {EwOp::kClip, "Clip", 3},
};

Status node_error(const Node& node, const std::string& msg) { return invalid_argument(node.describe() + ": " + msg); }

// Parses one operand token; `step` is the index of the step it belongs to.
Result<Operand> parse_operand(const std::string& tok, size_t step, size_t num_inputs, const Node& node,
                              const std::string& line) {
  auto bad = [&](const std::string& why) {
    return node_error(node, "program step " + std::to_string(step) + " '" + line + "': operand '" + tok + "' " + why);
  };
  if (tok.size() < 2) return bad("is not i<k>, s<j> or #<float>");
  Operand o;
  const char* first = tok.data() + 1;
  const char* last = tok.data() + tok.size();
  if (tok[0] == '#') {
    o.kind = Operand::Kind::kConst;
    // strtof accepts what std::to_string and "%.9g" produce, inf and nan included.
    std::string body(first, last);
    char* end = nullptr;
    o.value = std::strtof(body.c_str(), &end);
    if (end != body.c_str() + body.size()) return bad("is not a float constant");
    return o;
  }
  if (tok[0] != 'i' && tok[0] != 's') return bad("is not i<k>, s<j> or #<float>");
  int idx = -1;
  auto [ptr, ec] = std::from_chars(first, last, idx);
  if (ec != std::errc() || ptr != last || idx < 0) return bad("has no valid index");
  o.index = idx;
  if (tok[0] == 'i') {
    o.kind = Operand::Kind::kInput;
    if (static_cast<size_t>(idx) >= num_inputs)
      return bad("refers to input " + std::to_string(idx) + " but the node has " + std::to_string(num_inputs));
  } else {
    o.kind = Operand::Kind::kStep;
    if (static_cast<size_t>(idx) >= step) return bad("refers to a step that is not earlier");
  }
  return o;
}

}  // namespace

const char* activation_name(ActKind kind) {
  for (const auto& a : kActNames)
    if (a.kind == kind) return a.name;
  return "";
}

std::optional<ActKind> activation_from_name(std::string_view name) {
  for (const auto& a : kActNames)
    if (name == a.name) return a.kind;
  return std::nullopt;
}

Result<Activation> parse_activation(const Node& node) {
  const std::string name = node.attrs.get_string("activation", "");
  auto kind = activation_from_name(name);
  if (!kind) {
    std::string all;
    for (const auto& a : kActNames)
      if (*a.name) all += std::string(all.empty() ? "" : ", ") + a.name;
    return node_error(node, "unknown activation '" + name + "' (expected \"\" or one of " + all + ")");
  }
  Activation act;
  act.kind = *kind;
  const Attrs& a = node.attrs;
  switch (act.kind) {
    case ActKind::kLeakyRelu:
      act.alpha = a.get_float("activation_alpha", 0.01f);
      break;
    case ActKind::kClip:
      act.alpha = a.get_float("activation_alpha", -std::numeric_limits<float>::infinity());
      act.beta = a.get_float("activation_beta", std::numeric_limits<float>::infinity());
      if (std::isnan(act.alpha) || std::isnan(act.beta) || act.alpha > act.beta)
        return node_error(node, "Clip activation needs activation_alpha (min) <= activation_beta (max); got " +
                                    std::to_string(act.alpha) + " and " + std::to_string(act.beta));
      break;
    case ActKind::kHardSigmoid:
      act.alpha = a.get_float("activation_alpha", 0.2f);
      act.beta = a.get_float("activation_beta", 0.5f);
      break;
    default:
      break;
  }
  return act;
}

void set_activation(Attrs& attrs, const Activation& act) {
  attrs.set("activation", std::string(activation_name(act.kind)));
  if (act.kind == ActKind::kLeakyRelu) attrs.set("activation_alpha", act.alpha);
  if (act.kind == ActKind::kClip || act.kind == ActKind::kHardSigmoid) {
    attrs.set("activation_alpha", act.alpha);
    attrs.set("activation_beta", act.beta);
  }
}

const char* ew_op_name(EwOp op) {
  for (const auto& e : kEwNames)
    if (e.op == op) return e.name;
  return "?";
}

std::optional<EwOp> ew_op_from_name(std::string_view name) {
  for (const auto& e : kEwNames)
    if (name == e.name) return e.op;
  return std::nullopt;
}

int ew_arity(EwOp op) {
  for (const auto& e : kEwNames)
    if (e.op == op) return e.arity;
  return 0;
}

std::string Operand::to_string() const {
  switch (kind) {
    case Kind::kInput:
      return "i" + std::to_string(index);
    case Kind::kStep:
      return "s" + std::to_string(index);
    case Kind::kConst: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "#%.9g", static_cast<double>(value));  // 9 digits round-trip a float
      return buf;
    }
  }
  return "?";
}

std::string Step::to_string() const {
  std::string s = ew_op_name(op);
  for (const Operand& o : args) s += " " + o.to_string();
  return s;
}

Result<Program> parse_program(const std::vector<std::string>& lines, size_t num_inputs, const Node& node) {
  if (lines.empty()) return node_error(node, "attribute 'program' is missing or empty");
  Program p;
  for (size_t si = 0; si < lines.size(); ++si) {
    const std::string& line = lines[si];
    std::istringstream in(line);
    std::string op_name, tok;
    in >> op_name;
    auto op = ew_op_from_name(op_name);
    if (!op)
      return node_error(node, "program step " + std::to_string(si) + " '" + line + "': unknown op '" + op_name + "'");
    Step step;
    step.op = *op;
    while (in >> tok) {
      KILN_ASSIGN_OR_RETURN(Operand o, parse_operand(tok, si, num_inputs, node, line));
      step.args.push_back(o);
    }
    const int arity = ew_arity(step.op);
    if (static_cast<int>(step.args.size()) != arity)
      return node_error(node, "program step " + std::to_string(si) + " '" + line + "': " + op_name + " takes " +
                                  std::to_string(arity) + " operand(s), got " + std::to_string(step.args.size()));
    if (step.op == EwOp::kLeakyRelu || step.op == EwOp::kClip) {
      for (size_t k = 1; k < step.args.size(); ++k)
        if (step.args[k].kind != Operand::Kind::kConst)
          return node_error(node, "program step " + std::to_string(si) + " '" + line + "': the parameters of " +
                                      op_name + " must be # constants");
    }
    p.steps.push_back(std::move(step));
  }
  return p;
}

Result<Program> parse_program(const Node& node) {
  return parse_program(node.attrs.get_strings("program"), node.inputs.size(), node);
}

bool is_repeating_suffix(const std::vector<int64_t>& r, const std::vector<int64_t>& x) {
  size_t first = 0;
  while (first + 1 < r.size() && r[first] == 1) ++first;
  const size_t n = r.size() - first;
  if (r.empty() || n > x.size()) return false;
  for (size_t i = 0; i < n; ++i)
    if (r[first + i] != x[x.size() - n + i]) return false;
  return true;
}

}  // namespace kiln::fused
