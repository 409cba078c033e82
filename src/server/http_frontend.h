// HTTP/REST front end (KServe v2 + Triton extensions) and the Prometheus metrics endpoint, on libevent's evhttp.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "server/inference_server.h"

namespace kiln::server {

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 8000;
  int threads = 2;                          // event-loop threads, each with its own SO_REUSEPORT listener
  size_t max_body_size = size_t{64} << 20;  // --http-max-body-size
  bool log_requests = false;                // one JSON log line per request (--log-verbose)
  size_t max_json_elements = 4'000'000;     // --http-max-json-elements: JSON values per infer request (0 = no cap)
  int max_connections = 1000;               // --http-max-connections (lowered to what the fd limit allows)
  int idle_timeout_secs = 30;               // --http-idle-timeout-secs: keep-alive / slow-client timeout
  int parse_threads = 2;                    // workers parsing large or compressed infer bodies off the loops
  int parse_queue = 8;                      // bodies waiting for a parse worker beyond which infer answers 503
  int exit_timeout_secs = 30;               // --exit-timeout-secs: how long stop() waits for pending replies
};

class HttpFrontend : public Frontend {
 public:
  // Binds, then serves on `options.threads` event loops until stop().
  static Result<std::unique_ptr<HttpFrontend>> start(InferenceServer* server, const HttpOptions& options);
  // Serves GET /metrics only (one event loop).
  static Result<std::unique_ptr<HttpFrontend>> start_metrics(InferenceServer* server, const std::string& host,
                                                             int port);
  ~HttpFrontend() override;

  int port() const override;
  // Closes the listeners (no new connections); open connections keep being served.
  void stop_accepting();
  // Waits until every request handed to the server has been answered (or `timeout_ms` passed; -1 = the
  // configured exit_timeout_secs).
  bool wait_idle(int timeout_ms = -1);
  // The connection cap in effect (--http-max-connections lowered to what RLIMIT_NOFILE allows).
  int max_connections() const;
  // stop_accepting(), then ends the event loops and closes every connection.
  void stop() override;

  struct Impl;

 private:
  explicit HttpFrontend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::server
