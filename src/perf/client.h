// kiln perf's view of a server: model information, statistics, and per-connection inference workers.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "perf/perf_options.h"

namespace kiln::perf {

struct TensorInfo {
  std::string name;
  std::string datatype;  // KServe name: "FP32", "INT64", "BYTES", ...
  Dims shape;            // as the server reports it: -1 for dynamic dims, includes the batch dim when batching
};

struct ModelInfo {
  std::string name;
  std::string version;  // as asked ("" = default)
  int64_t max_batch_size = 0;
  std::vector<TensorInfo> inputs, outputs;
};

// One input tensor of a prepared request: raw little-endian row-major bytes (BYTES: 4-byte length prefixes).
struct InputTensor {
  std::string name;
  std::string datatype;
  DType dtype = DType::kUndefined;
  Dims shape;
  std::string bytes;
};
using RequestInputs = std::vector<InputTensor>;

// The server's cumulative statistics for the model (summed over the versions it reports).
struct ServerStats {
  uint64_t inference_count = 0, execution_count = 0;
  uint64_t success_count = 0, success_ns = 0;
  uint64_t queue_count = 0, queue_ns = 0;
  uint64_t compute_input_count = 0, compute_input_ns = 0;
  uint64_t compute_infer_count = 0, compute_infer_ns = 0;
  uint64_t compute_output_count = 0, compute_output_ns = 0;
  ServerStats minus(const ServerStats& earlier) const;
};

// Client-side time split of one request (nanoseconds); zero where the protocol client cannot tell.
struct CallTiming {
  int64_t send_ns = 0;  // writing the request
  int64_t recv_ns = 0;  // reading the response after its first byte arrived
};

// One connection, used by one thread. infer() sends prepared request `index` (modulo the number prepared).
class InferWorker {
 public:
  virtual ~InferWorker() = default;
  virtual Status infer(size_t index, CallTiming* timing) = 0;
};

// Closed-loop load driven asynchronously by the protocol client itself (no thread per request in flight).
class AsyncLoad {
 public:
  virtual ~AsyncLoad() = default;
  // Stops issuing requests; returns once every request in flight has completed.
  virtual void stop() = 0;
};
// Threads an asynchronous closed loop spreads its connections over: $KILN_PERF_ASYNC_THREADS when set (1..64), else
// CPU count / 4 (1..8); at most one per request in flight. One thread issuing and completing every request bounds the
// client near 10k requests/s.
inline int async_lanes(int concurrency) {
  int lanes = std::clamp(static_cast<int>(std::thread::hardware_concurrency()) / 4, 1, 8);
  if (const char* env = std::getenv("KILN_PERF_ASYNC_THREADS")) {
    const int v = std::atoi(env);
    if (v >= 1 && v <= 64) lanes = v;
  }
  return std::max(1, std::min(lanes, concurrency));
}
// Called once per completed request, on the client's threads, possibly concurrently for different slots.
using RecordFn = std::function<void(int slot, int64_t latency_ns, const CallTiming& timing, const Status& status)>;

// A protocol client. model_info()/statistics() may be called from one control thread while workers run.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<ModelInfo> model_info(const std::string& model, const std::string& version) = 0;
  virtual Result<ServerStats> statistics(const std::string& model, const std::string& version) = 0;
  // Serializes every request once; workers only send these prebuilt bodies.
  virtual Status prepare(const ModelInfo& model, const std::vector<RequestInputs>& requests) = 0;
  virtual Result<std::unique_ptr<InferWorker>> make_worker() = 0;
  // Keeps `concurrency` requests in flight asynchronously; kUnimplemented when the client has no async mode (the
  // runner then uses one InferWorker thread per request in flight).
  virtual Result<std::unique_ptr<AsyncLoad>> start_async_load(int concurrency, size_t data_sets, RecordFn record) {
    return unimplemented("no asynchronous mode");
  }
};

Result<std::unique_ptr<Backend>> make_http_backend(const std::string& host, int port, const PerfOptions& options);
Result<std::unique_ptr<Backend>> make_grpc_backend(const std::string& host, int port, const PerfOptions& options);

}  // namespace kiln::perf
