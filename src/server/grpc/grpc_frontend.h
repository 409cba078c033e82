// KServe v2 gRPC front end: serves inference.GRPCInferenceService (kserve_v2.proto) over an InferenceServer.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "server/inference_server.h"

namespace kiln::server {

// Default limit on one gRPC message (either direction) when the caller gives none: 64 MiB.
constexpr size_t kDefaultGrpcMaxMessageBytes = size_t{64} << 20;
// Connection limits (docs/grpc.md "Limits"): concurrent streams (calls) per connection, the time a new
// connection has to complete its HTTP/2 handshake, how long a connection with no calls stays open, and the
// threads grpc may use to serve.
constexpr int kGrpcMaxConcurrentStreams = 1024;
constexpr int kGrpcHandshakeTimeoutMs = 10 * 1000;
constexpr int kGrpcMaxConnectionIdleMs = 5 * 60 * 1000;
constexpr int kGrpcMaxThreads = 256;
// Open gRPC connections at most (--grpc-max-connections); those beyond it are shut down (connection_cap.h).
constexpr int kDefaultGrpcMaxConnections = 1000;

// A running gRPC server. It does not own the InferenceServer, which must outlive it (or shutdown() must
// have returned). Destruction calls shutdown().
class GrpcFrontend : public Frontend {
 public:
  ~GrpcFrontend() override = default;
  // The bound TCP port (the chosen one when started with port 0).
  int port() const override = 0;
  // Drain, step 1: from now on every new call, and every new request on an open stream, is answered UNAVAILABLE
  // "server is shutting down" (ServerLive still answers, ServerReady says false); calls in flight go on.
  virtual void begin_drain() = 0;
  // Drain, step 2: waits until every call and stream request in flight has been answered; false at `deadline`.
  virtual bool wait_idle(std::chrono::steady_clock::time_point deadline) = 0;
  // Stops serving: begin_drain(), then cancels whatever is still running after 1 s (after wait_idle() that is
  // only idle streams) and joins the serving threads. Idempotent. stop() is the same call under the Frontend name.
  virtual void shutdown() = 0;
  void stop() override { shutdown(); }
};

// Starts serving on host:port (port 0 picks a free port; read it back with port()). Messages larger than
// max_message_bytes (both directions) are rejected with RESOURCE_EXHAUSTED; connections beyond max_connections open
// ones are shut down within about 100 ms. Fails if the port cannot be bound.
Result<std::unique_ptr<GrpcFrontend>> start_grpc_frontend(InferenceServer& server, const std::string& host, int port,
                                                          size_t max_message_bytes,
                                                          int max_connections = kDefaultGrpcMaxConnections);

}  // namespace kiln::server
