// The accuracy budget of the INT8 accuracy guard: parsing "--accuracy-budget [OUTPUT=]METRIC:VALUE[,...]", binding
// it to the model's outputs, and judging a measured value against it.
#pragma once
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::guard {

enum class Metric {
  kTop1,    // top-1 agreement with FP32: fraction of rows (argmax over the last axis) that agree; higher is better
  kCosine,  // min over held-back samples of the cosine similarity, each sample's output flattened; higher is better
  kRelL2,   // max over held-back samples of ||int8 - fp32|| / ||fp32||; lower is better, the budget is an upper bound
};

const char* metric_name(Metric m);

// One comma-separated term: `output` empty means every output of the model.
struct BudgetTerm {
  std::string output;
  Metric metric = Metric::kCosine;
  double value = 0;
};

// Parses "cosine:0.999,logits=top1:0.99". A term is [OUTPUT=]METRIC:VALUE (split at the last ':' and the last '='
// before it, so output names may hold ':'; not ','). VALUE: top1 in [0, 1], cosine in [-1, 1], rel_l2 >= 0. Errors
// name the bad term: unknown metric, bad number, out of range, the same output and metric twice, empty budget.
Result<std::vector<BudgetTerm>> parse_budget(const std::string& text);

// A term applied to one output.
struct Constraint {
  std::string output;
  Metric metric = Metric::kCosine;
  double value = 0;
  std::string label() const;  // "cosine(logits)"
};

// Expands the terms over `outputs` (the model's output names, in order): a term without output applies to every
// output, a term naming an output replaces it there for the same metric. Errors: a term names an output the model
// does not have (the message lists the outputs).
Result<std::vector<Constraint>> bind_budget(const std::vector<BudgetTerm>& terms,
                                            const std::vector<std::string>& outputs);

// True when `measured` meets the constraint (NaN never does).
bool meets(const Constraint& c, double measured);
// The constraint's error measured in units of what the budget allows: 1 - value over 1 - budget for top1 and
// cosine, value over budget for rel_l2 (a zero allowance counts as 1e-12). <= 1 where met; ranks layers.
double budget_fraction(const Constraint& c, double measured);
// cosine "0.999123" (more digits when closer to 1: "0.99999984"), top1 "0.9950", rel_l2 "0.01234".
std::string format_metric(Metric m, double value);

}  // namespace kiln::guard
