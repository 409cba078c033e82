// KServe v2 gRPC front end: serves inference.GRPCInferenceService (kserve_v2.proto) over an InferenceServer.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "server/inference_server.h"

namespace kiln::server {

// Default limit on one gRPC message (either direction) when the caller gives none: 64 MiB.
constexpr size_t kDefaultGrpcMaxMessageBytes = size_t{64} << 20;

// A running gRPC server. It does not own the InferenceServer, which must outlive it (or shutdown() must
// have returned). Destruction calls shutdown().
class GrpcFrontend : public Frontend {
 public:
  ~GrpcFrontend() override = default;
  // The bound TCP port (the chosen one when started with port 0).
  int port() const override = 0;
  // Stops accepting calls, cancels calls still waiting after a short grace period, joins the serving threads.
  // Idempotent. stop() is the same call under the Frontend name.
  virtual void shutdown() = 0;
  void stop() override { shutdown(); }
};

// Starts serving on host:port (port 0 picks a free port; read it back with port()). Messages larger than
// max_message_bytes (both directions) are rejected with RESOURCE_EXHAUSTED. Fails if the port cannot be bound.
Result<std::unique_ptr<GrpcFrontend>> start_grpc_frontend(InferenceServer& server, const std::string& host, int port,
                                                          size_t max_message_bytes);

}  // namespace kiln::server
