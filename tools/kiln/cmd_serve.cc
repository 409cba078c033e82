// kiln serve --model-repository DIR: the inference server (HTTP/REST, gRPC, metrics) until SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/http_frontend.h"
#include "server/inference_server.h"
#include "server/shm_registry.h"  // ShmOptions
#include "server/trace.h"  // trace and log settings
#ifdef KILN_SERVER_GRPC
#include "server/grpc/grpc_frontend.h"  // drain
#endif
#include "tools/kiln/commands.h"

namespace kiln::cli {

namespace {

struct ServeArgs {
  std::string repository, control_mode = "none", host = "0.0.0.0";
  std::vector<std::string> load_models;
  int poll_secs = 15;
  int http_port = 8000, grpc_port = 8001, metrics_port = 8002;
  int http_threads = 0;
  size_t max_body = size_t{64} << 20;
  // HTTP hardening
  size_t http_max_json_elements = 4'000'000;
  int http_max_connections = 1000, http_idle_timeout_secs = 30, grpc_max_connections = 1000;
  bool allow_http = true, allow_grpc = true, allow_metrics = true;
  int log_verbose = 0;
  // shutdown grace period, trace file
  int exit_timeout_secs = 30;
  std::string trace_file;
  // model control
  bool strict_readiness = true;
  int default_max_batch_size = 4;
  // shared memory
  std::string shared_memory = "all", shm_key_prefix;
  size_t shm_max_regions = 1024;
  uint64_t shm_max_bytes = uint64_t{64} << 30;
};

int serve(const ServeArgs& a) {
  using namespace kiln::server;
  // Signals are taken by sigwait() below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  ServerOptions opts;
  opts.repository = a.repository;
  opts.control_mode = a.control_mode == "explicit" ? ModelControlMode::kExplicit
                      : a.control_mode == "poll"   ? ModelControlMode::kPoll
                                                   : ModelControlMode::kNone;
  opts.startup_models = a.load_models;
  opts.poll_secs = a.poll_secs;
  opts.strict_readiness = a.strict_readiness;
  opts.default_max_batch_size = a.default_max_batch_size;
  {  // initial log and trace settings (changed later through v2/logging and v2/trace/setting)
    LogSettings ls = log_settings();
    ls.verbose_level = static_cast<uint32_t>(std::max(0, a.log_verbose));
    set_log_settings(ls);
    if (!a.trace_file.empty()) Tracer::get().set_file(a.trace_file);
  }
  log_json("info", "starting kiln serve", {{"repository", a.repository}, {"model_control_mode", a.control_mode}});
  auto server = InferenceServer::create(opts);
  if (!server.ok()) {
    log_json("error", server.status().message());
    return 1;
  }
  {  // ---- shared-memory confinement and caps (shm_registry.h) ----
    ShmOptions so;
    so.system = a.shared_memory == "system" || a.shared_memory == "all";
    so.cuda = a.shared_memory == "cuda" || a.shared_memory == "all";
    so.key_prefix = a.shm_key_prefix;
    so.max_regions = a.shm_max_regions;
    so.max_bytes = a.shm_max_bytes;
    (*server)->shared_memory().configure(so);
    const bool loopback = a.host.rfind("127.", 0) == 0 || a.host == "::1" || a.host == "localhost";
    if ((so.system || so.cuda) && !loopback)
      log_json("warning",
               "SHARED MEMORY IS ENABLED ON A NON-LOOPBACK ADDRESS: any client that can reach " + a.host +
                   " can register this server's shared-memory objects (same uid) and have outputs written into them;"
                   " use --host 127.0.0.1, --shared-memory none, or --shm-key-prefix",
               {{"host", a.host}, {"shared_memory", a.shared_memory}});
  }
  std::unique_ptr<HttpFrontend> http, metrics;
#ifdef KILN_SERVER_GRPC
  std::unique_ptr<GrpcFrontend> grpc;  // the concrete type, for its drain calls
#endif
  if (a.allow_http) {
    HttpOptions h;
    h.host = a.host;
    h.port = a.http_port;
    h.threads = a.http_threads > 0 ? a.http_threads : std::max(2u, std::thread::hardware_concurrency());
    h.max_body_size = a.max_body;
    h.log_requests = a.log_verbose > 0;
    h.max_json_elements = a.http_max_json_elements;
    h.max_connections = a.http_max_connections;
    h.idle_timeout_secs = a.http_idle_timeout_secs;
    h.exit_timeout_secs = a.exit_timeout_secs;       // HttpFrontend::stop() waits this long
    auto f = HttpFrontend::start(server->get(), h);
    if (!f.ok()) {
      log_json("error", "HTTP front end: " + f.status().message());
      return 1;
    }
    http = std::move(f).value();
    log_json("info", "listening", {{"protocol", "http"}, {"host", a.host}, {"port", std::to_string(http->port())}});
  }
#ifdef KILN_SERVER_GRPC
  if (a.allow_grpc) {
    auto f = start_grpc_frontend(**server, a.host, a.grpc_port, kDefaultGrpcMaxMessageBytes, a.grpc_max_connections);
    if (!f.ok()) {
      log_json("error", "gRPC front end: " + f.status().message());
      return 1;
    }
    grpc = std::move(f).value();
    log_json("info", "listening", {{"protocol", "grpc"}, {"host", a.host}, {"port", std::to_string(grpc->port())}});
  }
#endif
  if (a.allow_metrics) {
    auto f = HttpFrontend::start_metrics(server->get(), a.host, a.metrics_port);
    if (!f.ok()) {
      log_json("error", "metrics endpoint: " + f.status().message());
      return 1;
    }
    metrics = std::move(f).value();
    log_json("info", "listening",
             {{"protocol", "metrics"}, {"host", a.host}, {"port", std::to_string(metrics->port())}});
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log_json("info", "signal received: draining",
           {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"exit_timeout_secs", std::to_string(a.exit_timeout_secs)}});
  // ---- drain within --exit-timeout-secs ----
  // 1. Stop taking work: no new connections; new requests on open connections get 503 / UNAVAILABLE.
  // 2. Wait until every request in flight (both protocols) has been answered, or the grace period ends.
  // 3. Stop the gRPC server (cancelling whatever is left), stop the InferenceServer, close HTTP, exit 0.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.exit_timeout_secs);
  if (http) http->stop_accepting();
#ifdef KILN_SERVER_GRPC
  if (grpc) grpc->begin_drain();
  if (grpc && !grpc->wait_idle(deadline))
    log_json("warning", "exit timeout reached: cancelling the gRPC calls still in flight");
  if (grpc) grpc->stop();
#endif
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  if (http && !http->wait_idle(remaining_ms())) log_json("warning", "some HTTP replies were still pending at exit");
  (*server)->shutdown();
  if (http) {
    if (!http->wait_idle(1000)) log_json("warning", "some HTTP replies were still pending at exit");
    http->stop();
  }
  if (metrics) metrics->stop();
  Tracer::get().flush();
  log_json("info", "stopped");
  return 0;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve a model repository over KServe v2 HTTP/REST and gRPC");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--model-repository", a->repository, "Model repository directory")->required();
  cmd->add_option("--model-control-mode", a->control_mode, "none | explicit | poll (default none)")
      ->check(CLI::IsMember({"none", "explicit", "poll"}));
  cmd->add_option("--load-model", a->load_models, "Model to load at startup in explicit mode (repeatable; * = all)");
  cmd->add_option("--repository-poll-secs", a->poll_secs, "Seconds between repository scans in poll mode (default 15)")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--host", a->host, "Address to listen on (default 0.0.0.0)");
  cmd->add_option("--http-port", a->http_port, "HTTP/REST port (default 8000; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", a->grpc_port, "gRPC port (default 8001; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--metrics-port", a->metrics_port, "Prometheus metrics port (default 8002; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-thread-count", a->http_threads, "HTTP event-loop threads (default: CPU count, at least 2)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--http-max-body-size", a->max_body, "Largest accepted HTTP request body in bytes (default 64 MiB)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 34));
  cmd->add_option("--allow-http", a->allow_http, "Serve HTTP/REST (default true)");
  cmd->add_option("--allow-grpc", a->allow_grpc, "Serve gRPC (default true)");
  cmd->add_option("--allow-metrics", a->allow_metrics, "Serve Prometheus metrics (default true)");
  // HTTP hardening
  cmd->add_option("--http-max-json-elements", a->http_max_json_elements,
                  "Most JSON values in one HTTP infer request; larger tensors must use binary data (default "
                  "4000000; 0 = no cap)");
  cmd->add_option("--http-max-connections", a->http_max_connections,
                  "Most open HTTP connections; more are answered 503 (default 1000, lowered to fit the open-file "
                  "limit)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--grpc-max-connections", a->grpc_max_connections,
                  "Most open gRPC connections; those beyond it are shut down, the client sees UNAVAILABLE "
                  "(default 1000)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--http-idle-timeout-secs", a->http_idle_timeout_secs,
                  "Close HTTP connections idle (or stalled mid-request) this long (default 30)")
      ->check(CLI::Range(1, 86400));
  // model control
  cmd->add_option("--strict-readiness", a->strict_readiness,
                  "Server ready only when every model asked to load is READY (default true)");
  cmd->add_option("--default-max-batch-size", a->default_max_batch_size,
                  "max_batch_size auto-completed for an ONNX model without one whose inputs and outputs all have a "
                  "dynamic first dim (default 4; 0 disables)")
      ->check(CLI::Range(0, 1 << 20));
  // shared memory
  cmd->add_option("--shared-memory", a->shared_memory,
                  "Shared-memory extensions clients may register: none | system | cuda | all (default all)")
      ->check(CLI::IsMember({"none", "system", "cuda", "all"}));
  cmd->add_option("--shm-key-prefix", a->shm_key_prefix,
                  "Register only system shared-memory keys that start with /PREFIX (default: any key)");
  cmd->add_option("--shm-max-regions", a->shm_max_regions,
                  "Most shared-memory regions registered at once, both kinds (default 1024)")
      ->check(CLI::Range(size_t{0}, size_t{60000}));
  cmd->add_option("--shm-max-bytes", a->shm_max_bytes,
                  "Most bytes registered as shared memory at once, both kinds (default 64 GiB)");
  cmd->add_option("--log-verbose", a->log_verbose, "1 = log every request (default 0)");
  // shutdown and trace
  cmd->add_option("--exit-timeout-secs", a->exit_timeout_secs,
                  "Seconds a SIGTERM/SIGINT waits for requests in flight before exiting (default 30)")
      ->check(CLI::Range(0, 24 * 3600));
  cmd->add_option("--trace-file", a->trace_file,
                  "File that trace records are appended to (the only way to set it; enables v2/trace/setting "
                  "TIMESTAMPS)");
  return [a]() { return serve(*a); };
}

}  // namespace kiln::cli
