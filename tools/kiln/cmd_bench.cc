// kiln bench MODEL: timed inference loop with a trtexec-style performance summary.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

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
  return {v.front(),         v.back(),          sum / v.size(),   percentile(v, 50),
          percentile(v, 90), percentile(v, 95), percentile(v, 99)};
}

}  // namespace

namespace {

struct BenchArgs {
  std::string model, json;
  int64_t batch = 0;
  double duration = 3.0, warmup = 0.2;
  int64_t iterations = 10;
  bool no_transfers = false, cuda_graph = false, profile = false;
  int profile_top = 25;
  int profile_runs = 10;
  int streams = 1;
  int back_to_back = 1;  // executions queued per host round trip (--back-to-back)
  std::string devices;   // --devices 0,1: one engine per GPU, --streams contexts on each
  std::vector<std::string> inputs;  // --input NAME=FILE: these inputs instead of random ones
  BuildFlags flags;
};

// One benchmark stream: its own context and thread; records per-iteration latency and phase times.
struct StreamResult {
  std::vector<double> lat_ms, h2d_ms, compute_ms, d2h_ms;
  bool graph_replayed = false;
  std::string graph_note;
  Status status;
};

void run_stream(const Engine& engine, const NamedValues& inputs, const BenchArgs& a, Clock::time_point start,
                double warmup_s, double duration_s, StreamResult* out) {
  auto ctx = engine.create_context();
  a.flags.configure(*ctx);
  ctx->set_cuda_graph(a.cuda_graph);
  NamedValues outputs;
  auto once = [&]() -> Status {
    if (a.no_transfers) return ctx->execute();
    KILN_RETURN_IF_ERROR(ctx->bind_inputs(inputs));
    KILN_RETURN_IF_ERROR(ctx->execute());
    return ctx->fetch_outputs(&outputs);
  };
  if (a.no_transfers) {
    out->status = ctx->bind_inputs(inputs);
    if (!out->status.ok()) return;
  }
  // The first runs of a shape record and plan memory, tune caches and capture the CUDA graph: never measure them.
  for (int i = 0; i < 3; ++i) {
    out->status = once();
    if (!out->status.ok()) return;
  }
  start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < warmup_s) {
    out->status = once();
    if (!out->status.ok()) return;
  }
  auto m0 = Clock::now();
  // --back-to-back N: N executions per host round trip, each recorded as 1/N of the round trip.
  const int runs = a.no_transfers ? std::max(1, a.back_to_back) : 1;
  for (;;) {
    auto t0 = Clock::now();
    out->status = runs > 1 ? ctx->execute_back_to_back(runs) : once();
    if (!out->status.ok()) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    RunTimings t = ctx->last_timings();
    for (int r = 0; r < runs; ++r) {
      out->lat_ms.push_back(ms / runs);
      out->h2d_ms.push_back(a.no_transfers ? 0 : t.h2d_ms);
      out->compute_ms.push_back(t.compute_ms);
      out->d2h_ms.push_back(a.no_transfers ? 0 : t.d2h_ms);
    }
    out->graph_replayed = t.graph_replayed;
    out->graph_note = t.graph_note;
    double elapsed = std::chrono::duration<double>(Clock::now() - m0).count();
    if (elapsed >= duration_s && static_cast<int64_t>(out->lat_ms.size()) >= a.iterations) break;
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

// "0,1" -> {0, 1}: each a visible GPU, none twice.
Result<std::vector<int>> parse_devices(const std::string& text) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > 1024)
      return invalid_argument("--devices '" + text + "': expected GPU indices like 0,1");
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) != out.end())
      return invalid_argument("--devices '" + text + "': GPU " + item + " listed twice");
    out.push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  int count = cuda_device_count();
  for (int d : out)
    if (d >= count)
      return not_found("--devices: GPU " + std::to_string(d) + " does not exist (" + std::to_string(count) +
                       " GPU(s) visible" + (count ? ": 0.." + std::to_string(count - 1) : std::string()) + ")");
  return out;
}

// One engine per device of --devices, each with its own copy of the weights. An ONNX model is compiled once per
// distinct device compatibility key (identical GPUs share the first build, loaded again onto each device).
Result<std::vector<std::shared_ptr<Engine>>> open_on_devices(const std::string& path, BuildOptions opts,
                                                             const std::vector<int>& devices) {
  std::vector<std::shared_ptr<Engine>> engines;
  std::map<std::string, std::string> built;  // compat key -> serialized engine
  opts.device = "cuda";                      // also makes load_or_build place an engine file on opts.gpu
  for (int d : devices) {
    KILN_ASSIGN_OR_RETURN(CudaDeviceDescription dev, cuda_device(d));
    opts.gpu = d;
    std::shared_ptr<Engine> e;
    auto it = built.find(dev.compat_key());
    if (it == built.end()) {
      KILN_ASSIGN_OR_RETURN(e, open_model(path, opts));
      if (e->info().backend != "cuda")
        return invalid_argument("--devices: " + path + " is a CPU engine (backend " + e->info().backend +
                                "); --devices runs GPU engines: build with --device cuda or pass a GPU engine file");
      KILN_ASSIGN_OR_RETURN(std::string bytes, e->serialize());
      built[dev.compat_key()] = std::move(bytes);
    } else {
      // Same engine bytes, a second device: through a private temp file so that Engine::load places it on `d`.
      char tmpl[] = "/tmp/kiln-bench-XXXXXX";
      int fd = ::mkstemp(tmpl);
      if (fd < 0) return internal_error("--devices: cannot create a temporary engine file");
      ::close(fd);
      {
        std::ofstream f(tmpl, std::ios::binary | std::ios::trunc);
        f.write(it->second.data(), static_cast<std::streamsize>(it->second.size()));
      }
      LoadOptions lo;
      lo.gpu = d;
      auto loaded = Engine::load(tmpl, lo);
      ::unlink(tmpl);
      KILN_ASSIGN_OR_RETURN(e, std::move(loaded));
    }
    engines.push_back(std::move(e));
  }
  return engines;
}

int run_bench(const BenchArgs& a) {
  auto opts = a.flags.to_options();
  if (!opts.ok()) return fail("bench", opts.status());
  if (a.back_to_back > 1 && !a.no_transfers)
    return fail("bench", invalid_argument("--back-to-back " + std::to_string(a.back_to_back) +
                                          " replays the bound inputs: add --no-transfers (and --cuda-graph)"));
  std::vector<int> devices;
  if (!a.devices.empty()) {
    const bool onnx = a.model.size() >= 5 && a.model.compare(a.model.size() - 5, 5, ".onnx") == 0;
    if (!onnx) {
      auto peek = Engine::load_unchecked(a.model);
      if (!peek.ok()) return fail("bench", peek.status());
      if ((*peek)->info().backend != "cuda")
        return fail("bench",
                    invalid_argument("--devices: " + a.model + " is a CPU engine (backend " + (*peek)->info().backend +
                                     "); --devices runs one GPU engine per device: pass a GPU engine file "
                                     "or an ONNX model with --device cuda"));
    } else if (opts->device != "cuda") {
      return fail("bench", invalid_argument("--devices runs one GPU engine per device: add --device cuda (a CPU "
                                            "build has no devices to spread over)"));
    }
    auto parsed = parse_devices(a.devices);
    if (!parsed.ok()) return fail("bench", parsed.status());
    devices = std::move(parsed).value();
  }
  auto t_build = Clock::now();
  std::vector<std::shared_ptr<Engine>> engines;
  if (devices.empty()) {
    auto one = open_model(a.model, *opts);
    if (!one.ok()) return fail("bench", one.status());
    engines.push_back(std::move(one).value());
  } else {
    auto many = open_on_devices(a.model, *opts, devices);
    if (!many.ok()) return fail("bench", many.status());
    engines = std::move(many).value();
  }
  const std::shared_ptr<Engine>* engine = &engines[0];
  double build_s = std::chrono::duration<double>(Clock::now() - t_build).count();
  auto inputs = make_random_inputs(**engine, opts->shapes, a.batch, 42);
  if (!inputs.ok()) return fail("bench", inputs.status());
  if (!a.inputs.empty()) {  // data-dependent models (detection post-processing) are timed on real inputs
    auto given = load_input_files(**engine, a.inputs);
    if (!given.ok()) return fail("bench", given.status());
    for (auto& [name, value] : *given) {
      auto it = std::find_if(inputs->begin(), inputs->end(), [&](const auto& p) { return p.first == name; });
      if (it == inputs->end()) return fail("bench", invalid_argument("--input '" + name + "': the model has no such input"));
      it->second = std::move(value);
    }
  }
  int64_t batch = 1;
  if (!inputs->empty() && inputs->front().second.tensor.rank() > 0) batch = inputs->front().second.tensor.dim(0);

  // --streams contexts on each engine (each device), all running at once.
  const int nstreams = a.streams * static_cast<int>(engines.size());
  std::vector<StreamResult> results(nstreams);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int k = 0; k < nstreams; ++k)
    threads.emplace_back(run_stream, std::cref(*engines[k / a.streams]), std::cref(*inputs), std::cref(a), start,
                         a.warmup, a.duration, &results[k]);
  for (auto& t : threads) t.join();
  double wall_s = std::chrono::duration<double>(Clock::now() - start).count() - a.warmup;
  std::vector<double> lat, h2d, comp, d2h;
  for (const auto& r : results) {
    if (!r.status.ok()) return fail("bench", r.status);
    lat.insert(lat.end(), r.lat_ms.begin(), r.lat_ms.end());
    h2d.insert(h2d.end(), r.h2d_ms.begin(), r.h2d_ms.end());
    comp.insert(comp.end(), r.compute_ms.begin(), r.compute_ms.end());
    d2h.insert(d2h.end(), r.d2h_ms.begin(), r.d2h_ms.end());
  }
  // Throughput: per stream, iterations over its own measured time; streams add up (per device, then in total).
  double qps = 0;
  std::vector<double> device_qps(engines.size(), 0.0);
  std::vector<std::vector<double>> device_lat(engines.size());
  for (int k = 0; k < nstreams; ++k) {
    const auto& r = results[k];
    double t = 0;
    for (double x : r.lat_ms) t += x;
    if (t > 0) qps += r.lat_ms.size() / (t / 1000.0);
    if (t > 0) device_qps[k / a.streams] += r.lat_ms.size() / (t / 1000.0);
    device_lat[k / a.streams].insert(device_lat[k / a.streams].end(), r.lat_ms.begin(), r.lat_ms.end());
  }
  Stats s = stats_of(lat);
  Stats gpu = stats_of(comp);

  std::vector<LayerTiming> layers;
  ContextMemory mem;
  {
    auto ctx = (*engine)->create_context();
    a.flags.configure(*ctx);
    NamedValues outs;
    Status st = ctx->run(*inputs, &outs);
    if (!st.ok()) return fail("bench", st);
    mem = ctx->memory();
    if (a.profile) {
      // Two warm-up executions, then the per-layer median of `profile_runs` (one execution's layer times swing by
      // tens of percent on a busy CPU).
      ctx->set_profiling(true);
      Status bs = ctx->bind_inputs(*inputs);
      for (int rep = 0; bs.ok() && rep < 2; ++rep) bs = ctx->execute();
      std::vector<std::vector<double>> samples;
      for (int rep = 0; bs.ok() && rep < a.profile_runs; ++rep) {
        bs = ctx->execute();
        if (!bs.ok()) break;
        layers = ctx->layer_timings();
        samples.resize(layers.size());
        for (size_t i = 0; i < layers.size(); ++i) samples[i].push_back(layers[i].ms);
      }
      if (!bs.ok()) return fail("bench", bs);
      for (size_t i = 0; i < layers.size() && i < samples.size(); ++i) {
        std::vector<double>& v = samples[i];
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
        layers[i].ms = v[v.size() / 2];
      }
    }
  }

  std::cout << std::fixed << std::setprecision(4);
  std::cout << "=== Model ===\n"
            << "Model: " << a.model << "  backend: " << (*engine)->info().backend
            << "  precision: " << (*engine)->info().precision << "  device: " << (*engine)->info().device
            << "  load/build: " << build_s << " s\n";
  for (const auto& [name, v] : *inputs)
    std::cout << "Input " << name << ": " << dtype_name(v.tensor.dtype()) << "[" << dims_to_string(v.tensor.dims())
              << "]\n";
  std::string graph = !a.cuda_graph               ? "off"
                      : results[0].graph_replayed ? "on (replayed)"
                                                  : "requested, not used: " + results[0].graph_note;
  if ((*engine)->info().backend != "cuda") graph = "n/a (CPU engine)";
  std::cout << "Streams: " << a.streams << (devices.empty() ? "" : " per device") << "  CUDA graph: " << graph
            << "  data transfers: " << (a.no_transfers ? "off (inputs bound once, device-resident)" : "on")
            << (a.back_to_back > 1 ? "  back-to-back: " + std::to_string(a.back_to_back) + " runs per host wait" : "")
            << "\n";
  std::cout << "=== Performance summary ===\n";
  if (!devices.empty()) {
    for (size_t i = 0; i < engines.size(); ++i) {
      Stats ds = stats_of(device_lat[i]);
      std::cout << "Device gpu" << devices[i] << " (" << engines[i]->info().device << "): throughput " << device_qps[i]
                << " qps (" << device_qps[i] * batch << " inferences/s), latency mean = " << ds.mean
                << " ms, median = " << ds.median << " ms, percentile(99%) = " << ds.p99 << " ms\n";
    }
    std::cout << "Devices: " << devices.size() << " (combined figures below)\n";
  }
  std::cout << "Throughput: " << qps << " qps (" << qps * batch << " inferences/s at batch " << batch << ")\n";
  std::cout << "Latency: min = " << s.min << " ms, max = " << s.max << " ms, mean = " << s.mean
            << " ms, median = " << s.median << " ms, percentile(90%) = " << s.p90 << " ms, percentile(95%) = " << s.p95
            << " ms, percentile(99%) = " << s.p99 << " ms\n";
  if ((*engine)->info().backend == "cuda") {
    std::cout << "H2D Latency: mean = " << mean_of(h2d) << " ms\n";
    std::cout << "GPU Compute Time: min = " << gpu.min << " ms, mean = " << gpu.mean << " ms, median = " << gpu.median
              << " ms, percentile(99%) = " << gpu.p99 << " ms\n";
    std::cout << "D2H Latency: mean = " << mean_of(d2h) << " ms\n";
    std::cout << "Memory: weights " << mem.weights << " B, activations peak " << mem.activations_peak
              << " B, workspace " << mem.workspace << " B\n";
  } else {
    std::cout << "Compute Time (host): mean = " << gpu.mean << " ms, median = " << gpu.median << " ms\n";
    std::cout << "Memory: weights " << mem.weights << " B, activations peak " << mem.activations_peak
              << " B, workspace " << mem.workspace << " B, peak " << mem.weights + mem.activations_peak + mem.workspace
              << " B\n";
  }
  std::cout << "Iterations: " << lat.size() << "\nTotal Host Walltime: " << wall_s << " s\n";
  if (!layers.empty()) {
    double total = 0;
    for (const auto& l : layers) total += l.ms;
    std::vector<LayerTiming> sorted = layers;
    std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.ms > y.ms; });
    std::cout << "=== Per-layer profile (median of " << a.profile_runs << " executions, " << layers.size() << " nodes, " << total << " ms) ===\n";
    const size_t top = a.profile_top > 0 ? static_cast<size_t>(a.profile_top) : sorted.size();
    for (size_t i = 0; i < sorted.size() && i < top; ++i)
      std::cout << std::setw(9) << sorted[i].ms << " ms " << std::setw(6) << std::setprecision(1)
                << (total > 0 ? 100 * sorted[i].ms / total : 0) << "%  " << std::setprecision(4) << sorted[i].op << " "
                << sorted[i].node << " [" << sorted[i].placement << ", " << sorted[i].kernel << "]\n";
    // Totals per op and kernel: where the time goes when no single node dominates.
    std::map<std::string, std::pair<int, double>> by_op;
    for (const auto& l : layers) {
      auto& e = by_op[l.op + " [" + l.placement + ", " + l.kernel + "]"];
      ++e.first;
      e.second += l.ms;
    }
    std::vector<std::pair<std::string, std::pair<int, double>>> ops(by_op.begin(), by_op.end());
    std::sort(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.second.second > y.second.second; });
    std::cout << "=== By op and kernel ===\n";
    for (const auto& [name, e] : ops)
      std::cout << std::setw(9) << e.second << " ms " << std::setw(6) << std::setprecision(1)
                << (total > 0 ? 100 * e.second / total : 0) << "%  " << std::setprecision(4) << e.first << " x "
                << name << "\n";
  }
  if (!a.json.empty()) {
    nlohmann::json jl = nlohmann::json::array();
    for (const auto& l : layers)
      jl.push_back({{"node", l.node}, {"op", l.op}, {"placement", l.placement}, {"kernel", l.kernel}, {"ms", l.ms}});
    nlohmann::json j = {
        {"model", a.model},
        {"backend", (*engine)->info().backend},
        {"precision", (*engine)->info().precision},
        {"device", (*engine)->info().device},
        {"batch", batch},
        {"streams", a.streams},
        {"back_to_back", a.back_to_back},
        {"cuda_graph", a.cuda_graph},
        {"cuda_graph_replayed", results[0].graph_replayed},
        {"cuda_graph_note", results[0].graph_note},
        {"no_transfers", a.no_transfers},
        {"build_s", build_s},
        {"iterations", lat.size()},
        {"walltime_s", wall_s},
        {"throughput_qps", qps},
        {"throughput_inferences_per_s", qps * batch},
        {"latency_ms",
         {{"min", s.min},
          {"max", s.max},
          {"mean", s.mean},
          {"median", s.median},
          {"p90", s.p90},
          {"p95", s.p95},
          {"p99", s.p99}}},
        {"h2d_ms", mean_of(h2d)},
        {"compute_ms", gpu.mean},
        {"compute_median_ms", gpu.median},
        {"d2h_ms", mean_of(d2h)},
        {"memory",
         {{"weights", mem.weights}, {"activations_peak", mem.activations_peak}, {"workspace", mem.workspace}}},
        {"layers", jl}};
    if (!devices.empty()) {
      nlohmann::json jd = nlohmann::json::array();
      for (size_t i = 0; i < engines.size(); ++i) {
        Stats ds = stats_of(device_lat[i]);
        jd.push_back({{"gpu", devices[i]},
                      {"device", engines[i]->info().device},
                      {"throughput_qps", device_qps[i]},
                      {"throughput_inferences_per_s", device_qps[i] * batch},
                      {"latency_ms", {{"mean", ds.mean}, {"median", ds.median}, {"p99", ds.p99}}}});
      }
      j["devices"] = jd;
    }
    std::ofstream f(a.json);
    if (!f) return fail("bench", not_found("cannot write '" + a.json + "'"));
    f << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmark an engine or ONNX model with random inputs");
  auto args = std::make_shared<BenchArgs>();
  cmd->add_option("model", args->model, "Engine file or ONNX model")->required();
  cmd->add_option("--batch", args->batch, "Batch size for a dynamic first dimension")->check(CLI::PositiveNumber);
  cmd->add_option("--duration", args->duration, "Seconds to measure (default 3)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", args->warmup, "Seconds of warm-up (default 0.2)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--iterations", args->iterations, "Minimum measured iterations (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", args->json, "Write the summary as JSON to this file");
  cmd->add_option("--input,-i", args->inputs,
                  "NAME=FILE.npy or NAME=FILE.pb: time on this input instead of a random one (repeat per input; like "
                  "trtexec --loadInputs)");
  cmd->add_option("--streams", args->streams, "Run K execution contexts concurrently, one thread each (default 1)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--devices", args->devices,
                  "GPU engines: load the engine once per listed GPU (e.g. 0,1) and run --streams contexts on each "
                  "concurrently; prints per-device and combined throughput");
  cmd->add_flag("--no-transfers", args->no_transfers,
                "Bind inputs once and time execution alone (device-resident inputs, like trtexec --noDataTransfers)");
  cmd->add_flag("--cuda-graph", args->cuda_graph, "Capture the execution into a CUDA graph and replay it");
  cmd->add_option("--back-to-back", args->back_to_back,
                  "With --no-transfers --cuda-graph: queue N replays per host round trip (throughput without a "
                  "host wait per run, as trtexec and PyTorch throughput loops measure); latency is then the round "
                  "trip / N (default 1)")
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--profile", args->profile, "Print a per-layer time profile (synchronized per node)");
  cmd->add_option("--profile-runs", args->profile_runs, "Executions the profile takes each layer's median of (default 10)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--profile-top", args->profile_top, "Slowest layers the profile lists (default 25; 0: every layer)")
      ->check(CLI::NonNegativeNumber);
  args->flags.add_to(cmd, false);
  args->flags.add_runtime_to(cmd);
  return [args]() { return run_bench(*args); };
}

}  // namespace kiln::cli
