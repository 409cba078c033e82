// KServe v2 gRPC front end: serves inference.GRPCInferenceService (kserve_v2.proto) over an InferenceServer.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "kiln/status.h"

namespace kiln::server {

class InferenceServer;

// A running gRPC server. It does not own the InferenceServer, which must outlive it (or shutdown() must
// have returned). Destruction calls shutdown().
class GrpcFrontend {
 public:
  virtual ~GrpcFrontend() = default;
  // The bound TCP port (the chosen one when started with port 0).
  virtual int port() const = 0;
  // Stops accepting calls, lets in-flight calls finish, joins the serving threads. Idempotent.
  virtual void shutdown() = 0;
};

// Starts serving on host:port (port 0 picks a free port; read it back with port()). Messages larger than
// max_message_bytes (both directions) are rejected with RESOURCE_EXHAUSTED. Fails if the port cannot be bound.
Result<std::unique_ptr<GrpcFrontend>> start_grpc_frontend(InferenceServer& server, const std::string& host, int port,
                                                          size_t max_message_bytes);

}  // namespace kiln::server
