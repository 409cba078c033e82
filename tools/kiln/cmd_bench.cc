// kiln bench MODEL: timed inference loop with a trtexec-style performance summary.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double min, max, mean, median, p90, p95, p99;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = p / 100.0 * (sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v.front(), v.back(), sum / v.size(), percentile(v, 50), percentile(v, 90), percentile(v, 95), percentile(v, 99)};
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmark an engine or ONNX model with random inputs");
  struct Args {
    std::string model, json;
    int64_t batch = 0;
    double duration = 3.0, warmup = 0.2;
    int64_t iterations = 10;
    BuildFlags flags;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "Engine file or ONNX model")->required();
  cmd->add_option("--batch", args->batch, "Batch size for a dynamic first dimension")->check(CLI::PositiveNumber);
  cmd->add_option("--duration", args->duration, "Seconds to measure (default 3)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", args->warmup, "Seconds of warm-up (default 0.2)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--iterations", args->iterations, "Minimum measured iterations (default 10)")->check(CLI::PositiveNumber);
  cmd->add_option("--json", args->json, "Write the summary as JSON to this file");
  args->flags.add_to(cmd, false);
  return [args]() {
    auto opts = args->flags.to_options();
    if (!opts.ok()) return fail("bench", opts.status());
    auto t_build = Clock::now();
    auto engine = open_model(args->model, *opts);
    if (!engine.ok()) return fail("bench", engine.status());
    double build_s = std::chrono::duration<double>(Clock::now() - t_build).count();
    auto inputs = make_random_inputs(**engine, opts->shapes, args->batch, 42);
    if (!inputs.ok()) return fail("bench", inputs.status());
    int64_t batch = 1;
    if (!inputs->empty() && inputs->front().second.tensor.rank() > 0) batch = inputs->front().second.tensor.dim(0);
    auto ctx = (*engine)->create_context();
    NamedValues outputs;
    auto run_once = [&]() { return ctx->run(*inputs, &outputs); };
    auto w0 = Clock::now();
    do {
      Status st = run_once();
      if (!st.ok()) return fail("bench", st);
    } while (std::chrono::duration<double>(Clock::now() - w0).count() < args->warmup);
    std::vector<double> lat_ms;
    auto m0 = Clock::now();
    for (;;) {
      auto t0 = Clock::now();
      Status st = run_once();
      if (!st.ok()) return fail("bench", st);
      lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      double elapsed = std::chrono::duration<double>(Clock::now() - m0).count();
      if (elapsed >= args->duration && static_cast<int64_t>(lat_ms.size()) >= args->iterations) break;
    }
    double wall_s = std::chrono::duration<double>(Clock::now() - m0).count();
    Stats s = stats_of(lat_ms);
    double qps = lat_ms.size() / wall_s;
    std::cout << std::fixed << std::setprecision(4);
    std::cout << "=== Model ===\n" << "Model: " << args->model << "  backend: " << (*engine)->info().backend
              << "  precision: " << (*engine)->info().precision << "  load/build: " << build_s << " s\n";
    for (const auto& [name, v] : *inputs)
      std::cout << "Input " << name << ": " << dtype_name(v.tensor.dtype()) << "[" << dims_to_string(v.tensor.dims()) << "]\n";
    std::cout << "=== Performance summary ===\n";
    std::cout << "Throughput: " << qps << " qps (" << qps * batch << " inferences/s at batch " << batch << ")\n";
    std::cout << "Latency: min = " << s.min << " ms, max = " << s.max << " ms, mean = " << s.mean
              << " ms, median = " << s.median << " ms, percentile(90%) = " << s.p90 << " ms, percentile(95%) = " << s.p95
              << " ms, percentile(99%) = " << s.p99 << " ms\n";
    std::cout << "Iterations: " << lat_ms.size() << "\nTotal Host Walltime: " << wall_s << " s\n";
    if (!args->json.empty()) {
      nlohmann::json j = {{"model", args->model},      {"backend", (*engine)->info().backend},
                          {"precision", (*engine)->info().precision}, {"batch", batch},
                          {"iterations", lat_ms.size()}, {"walltime_s", wall_s},
                          {"throughput_qps", qps},     {"throughput_inferences_per_s", qps * batch},
                          {"latency_ms", {{"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"median", s.median},
                                          {"p90", s.p90}, {"p95", s.p95}, {"p99", s.p99}}}};
      std::ofstream f(args->json);
      if (!f) return fail("bench", not_found("cannot write '" + args->json + "'"));
      f << j.dump(2) << "\n";
    }
    return 0;
  };
}

}  // namespace kiln::cli
