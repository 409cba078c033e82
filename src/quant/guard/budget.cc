// --accuracy-budget parsing, binding to outputs, and judging measured values.
#include "quant/guard/budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

namespace kiln::guard {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::kTop1: return "top1";
    case Metric::kCosine: return "cosine";
    case Metric::kRelL2: return "rel_l2";
  }
  return "?";
}

namespace {

Status bad_term(const std::string& term, const std::string& why) {
  return invalid_argument("--accuracy-budget: bad term '" + term + "': " + why);
}

}  // namespace

Result<std::vector<BudgetTerm>> parse_budget(const std::string& text) {
  std::vector<BudgetTerm> terms;
  std::set<std::pair<std::string, Metric>> seen;
  std::stringstream ss(text);
  std::string term;
  while (std::getline(ss, term, ',')) {
    if (term.empty()) continue;
    const auto colon = term.rfind(':');
    if (colon == std::string::npos)
      return bad_term(term, "expected [OUTPUT=]METRIC:VALUE, e.g. cosine:0.999 or logits=top1:0.99");
    std::string head = term.substr(0, colon), number = term.substr(colon + 1);
    BudgetTerm t;
    const auto eq = head.rfind('=');
    std::string metric = head;
    if (eq != std::string::npos) {
      t.output = head.substr(0, eq);
      metric = head.substr(eq + 1);
      if (t.output.empty()) return bad_term(term, "empty output name before '='");
    }
    if (metric == "top1") t.metric = Metric::kTop1;
    else if (metric == "cosine") t.metric = Metric::kCosine;
    else if (metric == "rel_l2") t.metric = Metric::kRelL2;
    else return bad_term(term, "unknown metric '" + metric + "' (expected top1, cosine or rel_l2)");
    char* end = nullptr;
    t.value = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !std::isfinite(t.value))
      return bad_term(term, "'" + number + "' is not a number");
    const bool in_range = t.metric == Metric::kTop1     ? t.value >= 0 && t.value <= 1
                          : t.metric == Metric::kCosine ? t.value >= -1 && t.value <= 1
                                                        : t.value >= 0;
    if (!in_range)
      return bad_term(term, std::string(metric_name(t.metric)) +
                                (t.metric == Metric::kTop1     ? " is a fraction in [0, 1]"
                                 : t.metric == Metric::kCosine ? " lies in [-1, 1]"
                                                               : " is an upper bound >= 0"));
    if (!seen.insert({t.output, t.metric}).second)
      return bad_term(term, std::string(metric_name(t.metric)) + " is given twice for " +
                                (t.output.empty() ? std::string("every output") : "output '" + t.output + "'"));
    terms.push_back(t);
  }
  if (terms.empty())
    return invalid_argument("--accuracy-budget: empty budget (expected [OUTPUT=]METRIC:VALUE[,...], e.g. cosine:0.999)");
  return terms;
}

std::string Constraint::label() const { return std::string(metric_name(metric)) + "(" + output + ")"; }

Result<std::vector<Constraint>> bind_budget(const std::vector<BudgetTerm>& terms,
                                            const std::vector<std::string>& outputs) {
  std::set<std::string> known(outputs.begin(), outputs.end());
  std::set<std::pair<std::string, Metric>> named;
  for (const auto& t : terms) {
    if (t.output.empty()) continue;
    if (!known.count(t.output)) {
      std::string list;
      for (const auto& o : outputs) list += (list.empty() ? "" : ", ") + o;
      return invalid_argument("--accuracy-budget: the model has no output '" + t.output + "' (its outputs: " + list +
                              ")");
    }
    named.insert({t.output, t.metric});
  }
  std::vector<Constraint> out;
  for (const auto& o : outputs)
    for (const auto& t : terms)
      if (t.output == o || (t.output.empty() && !named.count({o, t.metric})))
        out.push_back(Constraint{o, t.metric, t.value});
  return out;
}

bool meets(const Constraint& c, double measured) {
  if (std::isnan(measured)) return false;
  return c.metric == Metric::kRelL2 ? measured <= c.value : measured >= c.value;
}

double budget_fraction(const Constraint& c, double measured) {
  if (std::isnan(measured)) return std::numeric_limits<double>::infinity();
  const double err = c.metric == Metric::kRelL2 ? measured : 1.0 - measured;
  const double allowed = c.metric == Metric::kRelL2 ? c.value : 1.0 - c.value;
  return std::max(err, 0.0) / std::max(allowed, 1e-12);
}

std::string format_metric(Metric m, double value) {
  if (std::isnan(value)) return "nan";
  char buf[32];
  if (m == Metric::kRelL2) {
    std::snprintf(buf, sizeof buf, "%.4g", value);
  } else if (m == Metric::kTop1) {
    std::snprintf(buf, sizeof buf, "%.4f", value);
  } else {
    // Two digits past the first one that differs from 1, at least 6 and at most 10: 0.999965, 0.99999984.
    const double gap = 1.0 - value;
    const int digits = gap > 0 ? std::clamp(static_cast<int>(std::ceil(-std::log10(gap))) + 1, 6, 10) : 6;
    std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  }
  return buf;
}

}  // namespace kiln::guard
