// The accuracy guard's JSON report.
#include "quant/guard/report.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

namespace kiln::guard {

namespace {

using Json = nlohmann::ordered_json;

Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }  // JSON has no NaN / inf

Json output_metrics(const std::map<std::string, OutputMetrics>& metrics) {
  Json j = Json::object();
  for (const auto& [name, m] : metrics) {
    Json o;
    o["cosine"] = number(m.cosine);
    o["rel_l2"] = number(m.rel_l2);
    o["top1"] = m.has_top1 ? number(m.top1) : Json(nullptr);
    j[name] = std::move(o);
  }
  return j;
}

Json constraints_json(const GuardRun& run, const Trial& t) {
  Json list = Json::array();
  for (size_t i = 0; i < run.constraints.size() && i < t.measured.size(); ++i) {
    const Constraint& c = run.constraints[i];
    list.push_back({{"output", c.output}, {"metric", metric_name(c.metric)}, {"budget", c.value},
                    {"measured", number(t.measured[i])}, {"met", meets(c, t.measured[i])}});
  }
  return list;
}

Json configuration(const GuardRun& run, int index) {
  if (index < 0) return nullptr;
  const Trial& t = run.trials[index];
  return {{"trial", index}, {"int8_layers", t.int8_layers}, {"fp32_layers", t.fp32_layers}, {"met", t.met},
          {"budget", constraints_json(run, t)}, {"outputs", output_metrics(t.metrics)}};
}

}  // namespace

std::string guard_report_json(const GuardRun& run) {
  Json j;
  j["format"] = "kiln-accuracy-guard";
  j["version"] = 1;
  j["model"] = run.model;
  j["device"] = run.device;
  j["backend"] = run.backend;
  j["budget"] = run.budget;
  Json terms = Json::array();
  for (const auto& c : run.constraints) terms.push_back({{"output", c.output}, {"metric", metric_name(c.metric)},
                                                         {"value", c.value}});
  j["constraints"] = std::move(terms);
  j["samples"] = {{"calibration", run.split.calibration.size()}, {"held_back", run.split.held_back.size()},
                  {"held_back_folders", run.split.held_back}};
  if (!run.cache.empty()) j["calibration_cache"] = run.cache;
  j["sensitivity_method"] = "quantize only the layer (every other layer float), measured on the held-back samples";
  j["met"] = run.final_trial >= 0;
  int int8 = 0;
  for (const auto& l : run.layers) int8 += l.int8;
  j["int8_layers"] = int8;
  j["layers_total"] = run.layers.size();
  Json layers = Json::array();
  for (const auto& l : run.layers) {
    Json o;
    o["name"] = l.name;
    o["op"] = l.op;
    o["precision"] = l.int8 ? "int8" : "fp32";
    if (l.sensitivity_trial >= 0) {
      const Trial& t = run.trials[l.sensitivity_trial];
      o["sensitivity"] = number(t.score);
      o["rank"] = l.rank;
      o["trial"] = l.sensitivity_trial;  // index into "trials" (its build and run times)
      o["only_this_layer_int8"] = output_metrics(t.metrics);
    } else {
      o["sensitivity"] = nullptr;
      o["rank"] = nullptr;
    }
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  j["before"] = configuration(run, run.trials.empty() ? -1 : 0);
  j["after"] = configuration(run, run.final_trial);
  j["best"] = configuration(run, run.best_trial);
  Json trials = Json::array();
  for (size_t i = 0; i < run.trials.size(); ++i) {
    const Trial& t = run.trials[i];
    Json o;
    o["kind"] = trial_kind_name(t.kind);
    if (!t.layer.empty()) o["layer"] = t.layer;
    o["int8_layers"] = t.int8_layers;
    o["fp32_layers"] = t.fp32_layers.size();
    o["met"] = t.met;
    o["budget_fraction"] = number(t.score);
    o["budget"] = constraints_json(run, t);
    o["build_s"] = t.build_s;
    o["run_s"] = t.run_s;
    trials.push_back(std::move(o));
  }
  j["trials"] = std::move(trials);
  j["timings_s"] = {{"calibration", run.calibration_s}, {"fp32_reference", run.reference_s},
                    {"sensitivity", run.sensitivity_s}, {"search", run.search_s}, {"total", run.total_s}};
  return j.dump(1) + "\n";
}

Status write_guard_report(const std::string& path, const GuardRun& run) {
  std::ofstream f(path, std::ios::trunc);
  f << guard_report_json(run);
  f.close();
  if (!f) return not_found("cannot write the accuracy report to '" + path + "'");
  return ok_status();
}

}  // namespace kiln::guard
