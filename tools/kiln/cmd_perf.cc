// kiln perf: a perf_analyzer-style load client for `kiln serve` (or any KServe v2 server), HTTP or gRPC.
#include <memory>

#include "perf/perf.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {

std::function<int()> add_perf_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("perf", "Measure a KServe v2 inference server's throughput and latency under load");
  struct Args {
    perf::PerfOptions o;
    std::string protocol = "http", concurrency, rate, distribution = "constant", shared_memory = "none";
    std::vector<std::string> shapes;
    bool verbose = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-m,--model-name", a->o.model, "Model name")->required();
  cmd->add_option("-x,--model-version", a->o.version, "Model version (default: the server's choice)");
  cmd->add_option("-u,--url", a->o.url, "Server host:port (default localhost:8000 for http, localhost:8001 for grpc)");
  cmd->add_option("-i,--protocol", a->protocol, "http or grpc (default http)")
      ->check(CLI::IsMember({"http", "grpc"}, CLI::ignore_case));
  cmd->add_option("--concurrency-range", a->concurrency, "start:end:step concurrent requests (default 1)");
  cmd->add_option("--request-rate-range", a->rate, "start:end:step requests/s, open loop");
  cmd->add_option("--request-distribution", a->distribution, "constant or poisson request intervals (rate mode)")
      ->check(CLI::IsMember({"constant", "poisson"}, CLI::ignore_case));
  cmd->add_option("--max-threads", a->o.max_threads, "Sending threads in request-rate mode (default 16)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("-b,--batch-size", a->o.batch_size, "Batch size of each request (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shape", a->shapes, "NAME:d0,d1,... for dynamic inputs (no batch dim; split at the last ':')");
  cmd->add_option("--input-data", a->o.input_data, "random, zero, or a JSON file in Triton's input-data format");
  cmd->add_flag("--binary-data", a->o.binary_data, "HTTP: send and receive tensors with the binary data extension");
  cmd->add_option("--shared-memory", a->shared_memory,
                  "none, system or cuda: pass tensors through POSIX shared memory (system) or GPU memory shared "
                  "with CUDA IPC (cuda), registered with the server")
      ->check(CLI::IsMember({"none", "system", "cuda"}));
  cmd->add_option("--output-shared-memory-size", a->o.output_shared_memory_size,
                  "Bytes of shared memory per output with --shared-memory system|cuda (default: from the metadata)");
  cmd->add_option("--cuda-device", a->o.cuda_device, "GPU of the --shared-memory cuda buffers (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-p,--measurement-interval", a->o.measurement_ms, "Window length in ms (default 5000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-s,--stability-percentage", a->o.stability_percent,
                  "Windows agree when throughput and latency are within this % (default 10)");
  cmd->add_option("-r,--max-trials", a->o.max_trials, "Windows per step before giving up on stability (default 10)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--percentile", a->o.percentile, "Use this latency percentile for stability and the summary")
      ->check(CLI::Range(1, 99));
  cmd->add_option("-f,--latency-report-file", a->o.csv_path, "Write perf_analyzer's CSV report to this file");
  cmd->add_option("--max-message-bytes", a->o.max_message_bytes, "Largest request/response (default 64 MiB)");
  cmd->add_flag("-v,--verbose", a->verbose, "Print every measurement window");
  return [a]() {
    perf::PerfOptions& o = a->o;
    o.protocol = (a->protocol == "grpc" || a->protocol == "GRPC") ? perf::Protocol::kGrpc : perf::Protocol::kHttp;
    o.shared_memory = a->shared_memory == "system" ? perf::ShmKind::kSystem
                      : a->shared_memory == "cuda" ? perf::ShmKind::kCuda
                                                   : perf::ShmKind::kNone;
    o.distribution = a->distribution == "poisson" ? perf::Distribution::kPoisson : perf::Distribution::kConstant;
    if (!a->concurrency.empty() && !a->rate.empty())
      return fail("perf", invalid_argument("give --concurrency-range or --request-rate-range, not both"));
    if (!a->rate.empty()) {
      auto r = perf::parse_range(a->rate, "--request-rate-range");
      if (!r.ok()) return fail("perf", r.status());
      o.mode = perf::LoadMode::kRequestRate;
      o.request_rate = *r;
    } else if (!a->concurrency.empty()) {
      auto r = perf::parse_range(a->concurrency, "--concurrency-range");
      if (!r.ok()) return fail("perf", r.status());
      o.concurrency = *r;
    }
    for (const std::string& s : a->shapes) {
      auto parsed = perf::parse_shape(s);
      if (!parsed.ok()) return fail("perf", parsed.status());
      o.shapes[parsed->first] = parsed->second;
    }
    Status st = perf::run_perf(o, a->verbose);
    if (!st.ok()) return fail("perf", st);
    return 0;
  };
}

}  // namespace kiln::cli
