// kiln perf's driver: model discovery, request preparation, load steps, reports and perf_analyzer's CSV.
#include "perf/perf.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "perf/client.h"
#include "perf/input_data.h"
#include "perf/load_runner.h"

namespace kiln::perf {
namespace {

double per_request_us(uint64_t ns, uint64_t count) {
  return count ? static_cast<double>(ns) / static_cast<double>(count) / 1000.0 : 0.0;
}

void print_step(const StepResult& r, const PerfOptions& o) {
  const bool http = o.protocol == Protocol::kHttp;
  if (r.mode == LoadMode::kConcurrency) {
    std::printf("Request concurrency: %g\n", r.load);
  } else {
    std::printf("Request Rate: %g inference requests per second\n", r.load);
  }
  std::printf("  Client:\n");
  std::printf("    Request count: %llu\n", static_cast<unsigned long long>(r.requests));
  std::printf("    Throughput: %.1f infer/sec\n", r.throughput);
  if (r.mode == LoadMode::kRequestRate && r.delayed)
    std::printf("    Delayed request count: %llu\n", static_cast<unsigned long long>(r.delayed));
  std::printf("    Avg latency: %.0f usec (standard deviation %.0f usec)\n", r.avg_us, r.stddev_us);
  std::printf("    p50 latency: %.0f usec\n", r.p50_us);
  std::printf("    p90 latency: %.0f usec\n", r.p90_us);
  std::printf("    p95 latency: %.0f usec\n", r.p95_us);
  std::printf("    p99 latency: %.0f usec\n", r.p99_us);
  if (o.percentile > 0) std::printf("    p%d latency: %.0f usec\n", o.percentile, r.pct_us);
  if (http)
    std::printf("    Avg HTTP time: %.0f usec (send %.0f usec + response wait %.0f usec + receive %.0f usec)\n",
                r.avg_us, r.send_us, std::max(0.0, r.avg_us - r.send_us - r.recv_us), r.recv_us);
  else
    std::printf("    Avg gRPC time: %.0f usec (marshal, send, wait and receive)\n", r.avg_us);
  if (r.server_ok) {
    const ServerStats& s = r.server;
    const double request = per_request_us(s.success_ns, s.success_count);
    const double queue = per_request_us(s.queue_ns, s.queue_count);
    const double cin = per_request_us(s.compute_input_ns, s.compute_input_count);
    const double cinf = per_request_us(s.compute_infer_ns, s.compute_infer_count);
    const double cout = per_request_us(s.compute_output_ns, s.compute_output_count);
    std::printf("  Server:\n");
    std::printf("    Inference count: %llu\n", static_cast<unsigned long long>(s.inference_count));
    std::printf("    Execution count: %llu\n", static_cast<unsigned long long>(s.execution_count));
    std::printf("    Successful request count: %llu\n", static_cast<unsigned long long>(s.success_count));
    std::printf(
        "    Avg request latency: %.0f usec (overhead %.0f usec + queue %.0f usec + compute input %.0f usec + "
        "compute infer %.0f usec + compute output %.0f usec)\n",
        request, std::max(0.0, request - queue - cin - cinf - cout), queue, cin, cinf, cout);
  } else {
    std::printf("  Server: statistics unavailable\n");
  }
  if (!r.stable)
    std::printf("  Warning: not stable within %g%% after %d measurement windows; reporting the last ones\n",
                o.stability_percent, o.max_trials);
  const double latency = o.percentile > 0 ? r.pct_us : r.avg_us;
  if (r.mode == LoadMode::kConcurrency)
    std::printf("Concurrency: %g, throughput: %.1f infer/sec, latency %.0f usec\n", r.load, r.throughput, latency);
  else
    std::printf("Request Rate: %g, throughput: %.1f infer/sec, latency %.0f usec\n", r.load, r.throughput, latency);
  std::fflush(stdout);
}

Status write_csv(const std::string& path, std::vector<StepResult> results, const PerfOptions& o) {
  std::ofstream f(path);
  if (!f) return not_found("-f: cannot write '" + path + "'");
  // perf_analyzer's column set; rows sorted by increasing throughput as it does. Times in usec.
  f << (o.mode == LoadMode::kConcurrency ? "Concurrency" : "Request Rate")
    << ",Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,"
       "Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency,"
       "Avg latency,request/response,response wait\n";
  std::sort(results.begin(), results.end(),
            [](const StepResult& a, const StepResult& b) { return a.throughput < b.throughput; });
  for (const StepResult& r : results) {
    const ServerStats& s = r.server;
    const double queue = per_request_us(s.queue_ns, s.queue_count);
    const double cin = per_request_us(s.compute_input_ns, s.compute_input_count);
    const double cinf = per_request_us(s.compute_infer_ns, s.compute_infer_count);
    const double cout = per_request_us(s.compute_output_ns, s.compute_output_count);
    const double network = std::max(0.0, r.avg_us - r.send_us - r.recv_us - queue - cin - cinf - cout);
    char line[512];
    std::snprintf(line, sizeof line, "%g,%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n",
                  r.load, r.throughput, r.send_us, network, queue, cin, cinf, cout, r.recv_us, r.p50_us, r.p90_us,
                  r.p95_us, r.p99_us, r.avg_us, r.send_us + r.recv_us, std::max(0.0, r.avg_us - r.send_us - r.recv_us));
    f << line;
  }
  if (!f) return data_loss("-f: writing '" + path + "' failed");
  return ok_status();
}

}  // namespace

Status run_perf(const PerfOptions& options, bool verbose) {
  if (options.model.empty()) return invalid_argument("-m MODEL is required");
  if (options.measurement_ms < 10) return invalid_argument("--measurement-interval must be at least 10 ms");
  if (options.stability_percent <= 0) return invalid_argument("--stability-percentage must be positive");
  if (options.percentile < 0 || options.percentile > 99) return invalid_argument("--percentile must be 1..99");
  const bool grpc = options.protocol == Protocol::kGrpc;
  KILN_ASSIGN_OR_RETURN(auto hp, parse_url(options.url.empty() ? "localhost" : options.url, grpc ? 8001 : 8000));
  std::unique_ptr<Backend> backend;
  if (grpc) {
    KILN_ASSIGN_OR_RETURN(backend, make_grpc_backend(hp.first, hp.second, options));
  } else {
    KILN_ASSIGN_OR_RETURN(backend, make_http_backend(hp.first, hp.second, options));
  }
  KILN_ASSIGN_OR_RETURN(ModelInfo model, backend->model_info(options.model, options.version));
  KILN_ASSIGN_OR_RETURN(std::vector<RequestInputs> requests, make_request_inputs(model, options));
  KILN_RETURN_IF_ERROR(backend->prepare(model, requests));
  // Fail fast (before any load) when the server rejects the request itself.
  {
    KILN_ASSIGN_OR_RETURN(auto probe, backend->make_worker());
    KILN_RETURN_IF_ERROR(probe->infer(0, nullptr));
  }

  const std::vector<double> loads =
      options.mode == LoadMode::kConcurrency ? options.concurrency.values() : options.request_rate.values();
  std::printf("*** Measurement Settings ***\n");
  std::printf("  Service Kind: %s\n", grpc ? "gRPC" : "HTTP");
  std::printf("  Model: %s (max_batch_size %lld)\n", model.name.c_str(), static_cast<long long>(model.max_batch_size));
  std::printf("  Batch size: %lld\n", static_cast<long long>(options.batch_size));
  std::printf("  Using \"time_windows\" mode for stabilization\n");
  std::printf("  Measurement window: %lld msec\n", static_cast<long long>(options.measurement_ms));
  std::printf("  Stabilizing using %s latency (within %g%%, up to %d windows)\n",
              options.percentile > 0 ? ("p" + std::to_string(options.percentile)).c_str() : "average",
              options.stability_percent, options.max_trials);
  if (options.mode == LoadMode::kRequestRate)
    std::printf("  Using %s request intervals with %d sending threads\n",
                options.distribution == Distribution::kPoisson ? "poisson" : "constant", options.max_threads);
  std::printf("\n");
  std::fflush(stdout);

  std::vector<StepResult> results;
  for (double load : loads) {
    if (options.mode == LoadMode::kConcurrency && (load < 1 || load > 1024 || load != static_cast<int>(load)))
      return invalid_argument("concurrency " + std::to_string(load) + " must be an integer in 1..1024");
    KILN_ASSIGN_OR_RETURN(StepResult r,
                          run_step(*backend, model, options, options.mode, load, requests.size(), verbose));
    print_step(r, options);
    std::printf("\n");
    results.push_back(r);
  }
  if (!options.csv_path.empty()) KILN_RETURN_IF_ERROR(write_csv(options.csv_path, results, options));
  return ok_status();
}

}  // namespace kiln::perf
