// InferenceServer: the protocol-independent core of `kiln serve` (repository, schedulers, statistics).
// The HTTP front end (src/server/http_*) and the gRPC front end (src/server/grpc/) translate wire requests
// into the structs below and call this class; neither touches engines or the repository directly.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "server/model_config.pb.h"

namespace kiln::server {

// ---- Status -------------------------------------------------------------------------------------------
// Server-level error classes. Each front end maps them onto its protocol (http_status_code() for HTTP;
// gRPC: kInvalidArgument->INVALID_ARGUMENT, kNotFound->NOT_FOUND, kUnavailable->UNAVAILABLE,
// kQueueFull->RESOURCE_EXHAUSTED, kTimeout->DEADLINE_EXCEEDED, kCancelled->CANCELLED,
// kPayloadTooLarge->RESOURCE_EXHAUSTED, kAlreadyExists->ALREADY_EXISTS, kInternal->INTERNAL).
enum class ServerCode {
  kOk = 0,
  kInvalidArgument,  // malformed request, bad shape/dtype/byte size            -> HTTP 400
  kNotFound,         // unknown model, version, input or output                 -> HTTP 404
  kUnavailable,      // model not ready (loading, failed, unloading), shutting down -> HTTP 503
  kQueueFull,        // dynamic_batching max_queue_size reached                 -> HTTP 429
  kTimeout,          // request spent longer than its timeout in the queue      -> HTTP 504
  kCancelled,        // client went away; no response is delivered to anyone    -> HTTP 499
  kPayloadTooLarge,  // body over --http-max-body-size / gRPC message limit     -> HTTP 413
  kAlreadyExists,    //                                                          -> HTTP 409
  kInternal,         // engine failure while running a valid request           -> HTTP 500
};

struct ServerStatus {
  ServerCode code = ServerCode::kOk;
  std::string message;
  bool ok() const { return code == ServerCode::kOk; }
  static ServerStatus ok_status() { return {}; }
  // Engine errors: kInvalidArgument/kOutOfRange/kUnimplemented -> kInvalidArgument, kNotFound -> kNotFound,
  // kResourceExhausted -> kInvalidArgument (request too large for the model), everything else -> kInternal.
  static ServerStatus from(const Status& status);
};
inline ServerStatus server_error(ServerCode code, std::string message) { return {code, std::move(message)}; }
int http_status_code(ServerCode code);
const char* server_code_name(ServerCode code);  // "INVALID_ARGUMENT", "NOT_FOUND", ...

// ---- Tensors and requests -----------------------------------------------------------------------------
// KServe v2 datatype names <-> Kiln DTypes: BOOL UINT8 UINT16 UINT32 UINT64 INT8 INT16 INT32 INT64 FP16 BF16
// FP32 FP64 BYTES (BYTES = DType::kString). Returns false / "" for types the protocol cannot carry.
bool datatype_from_name(const std::string& name, DType* out);
const char* datatype_name(DType dtype);
// Triton config enum (TYPE_FP32, ...) <-> DType.
bool dtype_from_config(DataType type, DType* out);
DataType config_from_dtype(DType dtype);

// A request/response parameter value (KServe InferParameter).
using ParamValue = std::variant<bool, int64_t, double, std::string>;
using Parameters = std::map<std::string, ParamValue>;

// A named tensor on the wire. `data` holds raw little-endian row-major bytes, exactly numel * element size
// bytes; for BYTES each element is a 4-byte little-endian length followed by that many bytes (Triton's
// binary BYTES layout). Front ends convert JSON "data" arrays into this layout.
struct InferTensor {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims shape;
  std::string data;
  Parameters parameters;  // per-tensor parameters as received (e.g. binary_data_size); not interpreted here
  // Bytes kept outside `data` (a registered shared-memory region, or the received HTTP body): when `view` is set,
  // `data` is empty and the tensor's bytes are [view, view + view_size); `hold` keeps that memory mapped/alive
  // until the request is destroyed. Readers use bytes().
  const char* view = nullptr;
  size_t view_size = 0;
  std::shared_ptr<const void> hold;
  // >= 0: `view` is an address in that CUDA device's memory (a CUDA shared-memory input, resolve_shared_memory):
  // its bytes are copied device-to-device into a GPU instance's batch, or device-to-host (cuda_copy) for anything
  // else. Never read them through bytes() on the host; bytes().size() is still the byte count.
  int view_device = -1;
  std::string_view bytes() const { return view ? std::string_view(view, view_size) : std::string_view(data); }
};

struct RequestedOutput {
  std::string name;
  Parameters parameters;  // e.g. binary_data (front ends interpret it); not interpreted here
  // Set by resolve_shared_memory() (shm_registry.h) when the output goes to a registered shared-memory region:
  // the scheduler writes the output bytes to [shm_dst, shm_dst + shm_size) and the response tensor carries no
  // data, only the parameters shared_memory_region / shared_memory_byte_size (/ shared_memory_offset).
  // write there ONLY with write_shm_output() (shm_registry.h): it survives a truncated object (SIGBUS) and
  // copies host-to-device for CUDA regions (shm_dst is then a device address); a plain memcpy can kill the server.
  char* shm_dst = nullptr;
  size_t shm_size = 0;
  std::string shm_region;
  uint64_t shm_offset = 0;
  std::shared_ptr<const void> shm_hold;
  int shm_device = -1;  // >= 0: the region is CUDA shared memory on that device (shm_dst is a device address)
};

struct InferRequest {
  std::string model_name;
  std::string model_version;  // "" = the highest-numbered ready version
  std::string id;             // echoed in the response and logs; generated when empty
  Parameters parameters;      // recognized: "priority" (int, 1 = highest), "timeout" (int, microseconds)
  std::vector<InferTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty = every model output
  // ---- the front end's protocol, "http" or "grpc" (label of kiln_server_request_failure); null = "other" ----
  const char* protocol = nullptr;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  Parameters parameters;
  std::vector<InferTensor> outputs;  // in the order requested (or the model's output order)
};

// Called exactly once per infer() call, on a scheduler or caller thread; must not block for long.
using InferCallback = std::function<void(ServerStatus status, InferResponse response)>;

// Returned by infer(): lets a front end cancel a request whose client disconnected. A cancelled request that
// is still queued is removed and its memory freed; its callback still runs once with kCancelled.
class InferHandle {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// ---- Metadata, repository, statistics -----------------------------------------------------------------
struct TensorMetadata {
  std::string name;
  std::string datatype;  // KServe name, "FP32"
  Dims shape;            // -1 for variable dims; includes the batch dim (-1) when max_batch_size > 0
};
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // ready versions, ascending
  std::string platform;               // "kiln"
  std::vector<TensorMetadata> inputs, outputs;
};
struct ServerMetadata {
  std::string name = "kiln";
  std::string version;
  std::vector<std::string> extensions;
};

struct RepositoryEntry {
  std::string name;
  std::string version;  // "" when the model has no loadable version
  std::string state;    // "READY", "UNAVAILABLE", "LOADING", "UNLOADING"
  std::string reason;   // why UNAVAILABLE (config error, build error, unloaded)
};

// Cumulative count + nanoseconds (Triton's StatisticDuration).
struct StatDuration {
  uint64_t count = 0;
  uint64_t ns = 0;
};
struct BatchStats {
  uint64_t batch_size = 0;
  StatDuration compute_input, compute_infer, compute_output;
};
// One model version's statistics as Triton's statistics extension reports them.
struct ModelStats {
  std::string name;
  std::string version;
  uint64_t last_inference_ms = 0;  // wall clock, ms since epoch
  uint64_t inference_count = 0;    // inferences (batch items) run
  uint64_t execution_count = 0;    // engine executions (batches) run
  StatDuration success, fail, queue, compute_input, compute_infer, compute_output;
  std::vector<BatchStats> batch_stats;                 // one entry per executed batch size, ascending
  uint64_t pending_requests = 0;                       // queued or running now
  std::map<std::string, uint64_t> failures_by_reason;  // "REJECTED", "CANCELED", "BACKEND", "OTHER"
};

// ---- The server ---------------------------------------------------------------------------------------
enum class ModelControlMode { kNone, kExplicit, kPoll };

struct ServerOptions {
  std::string repository;  // the model repository directory
  ModelControlMode control_mode = ModelControlMode::kNone;
  std::vector<std::string> startup_models;  // --load-model (explicit mode); "*" = all
  int poll_secs = 15;                       // --repository-poll-secs (poll mode)
  // ---- model control (repository.cc, control_queue.cc) ----
  // --strict-readiness: ready() only when every model the control mode asked to load is READY.
  bool strict_readiness = true;
  // --default-max-batch-size: max_batch_size given to a model whose config has none (or no config) when every
  // input and output has a dynamic first dim (Triton's auto-complete); 0 disables.
  int default_max_batch_size = 4;
};

class ServerImpl;
class ShmRegistry;

class InferenceServer {
 public:
  // Scans the repository and loads models as the control mode says. Model errors never fail startup: a
  // model with a bad config or a failing build is UNAVAILABLE with the reason in repository_index().
  // Fails only when the repository directory itself cannot be read.
  static Result<std::unique_ptr<InferenceServer>> create(const ServerOptions& options);
  ~InferenceServer();  // shutdown() then frees everything

  // Stops accepting new requests (they fail with kUnavailable), lets queued and running requests finish,
  // and stops the scheduler threads. Idempotent.
  void shutdown();

  bool live() const;
  // Startup loading finished, not shutting down, and (strict_readiness) every model the control mode asked to
  // load is READY (mode none/poll: every model in the repository; explicit: --load-model ones and later load
  // requests); a model explicitly unloaded does not count.
  bool ready() const;
  ServerMetadata metadata() const;

  // version "" = the highest ready version. kNotFound for an unknown model or version.
  bool model_ready(const std::string& name, const std::string& version) const;
  Result<ModelMetadata> model_metadata(const std::string& name, const std::string& version) const;
  Result<ModelConfig> model_config(const std::string& name, const std::string& version) const;

  // Validates the request against the model (names, dtypes, shapes, byte sizes, batch size) before any
  // allocation, then queues it. Errors found up front call `done` before infer() returns.
  std::shared_ptr<InferHandle> infer(InferRequest request, InferCallback done);

  // Every model directory in the repository with its state (ready_only: only READY entries).
  std::vector<RepositoryEntry> repository_index(bool ready_only) const;
  // Repository extension (explicit or poll mode; kUnavailable in mode none). load() (re)reads the config
  // and loads the versions its version_policy selects; unload() waits for in-flight requests, then frees the
  // model's execution contexts and engines.
  ServerStatus load_model(const std::string& name);
  ServerStatus unload_model(const std::string& name);
  // ---- model control (control_queue.cc) ----
  // load_model with Triton's load parameters: "config" (string: a JSON ModelConfig that replaces config.pbtxt
  // for this load, validated like one; errors -> kInvalidArgument naming "config override" and the field).
  // "file:<path>" parameters -> kInvalidArgument (file overrides are not supported); any other name ->
  // kInvalidArgument naming it. Parameters are checked before the model is touched, and a load with an override
  // that fails leaves the versions that are serving in place (a broken config.pbtxt still unloads, as before).
  ServerStatus load_model(const std::string& name, const Parameters& params);
  // Runs `work` on the model-control worker thread (a bounded FIFO, 64 pending at most; see control_queue.h).
  // Returns kOk when queued (work runs exactly once later); kUnavailable without queueing when the queue is
  // full ("model control queue is full (64 requests pending)") or the server is shutting down. At shutdown the
  // pending work still runs, and load_model/unload_model called from it return kUnavailable at once, so work
  // must report through the callback it captures. Front ends call load_model/unload_model inside `work`
  // instead of starting a thread per request.
  ServerStatus submit_control(std::function<void()> work);

  // name "" = every model; version "" = every loaded version of the model.
  Result<std::vector<ModelStats>> statistics(const std::string& name, const std::string& version) const;
  // Prometheus text exposition of every counter (kiln_* names, see docs/server.md).
  std::string prometheus_metrics() const;
  // ---- requests that failed before a model version was chosen (metric kiln_server_request_failure) ----
  // protocol: "http" or "grpc" (anything else counts as "other"). reason: "MALFORMED" (the body or message could
  // not be parsed), "PAYLOAD_TOO_LARGE", "UNKNOWN_MODEL", "MODEL_UNAVAILABLE", "SHARED_MEMORY" (an unknown or
  // too small region), "SHUTTING_DOWN", "OVERLOADED" (connection or queue caps), "OTHER" (anything else counts as
  // it). Front ends call it for infer requests they reject before calling infer(); infer() counts its own.
  // Thread-safe, lock-free.
  void count_rejected_request(const char* protocol, const char* reason);

  // System shared-memory regions (shm_registry.h), shared by the HTTP and gRPC front ends. infer() resolves the
  // shared_memory_* parameters of inputs and outputs against it.
  ShmRegistry& shared_memory() { return *shm_; }

 private:
  explicit InferenceServer(std::unique_ptr<ServerImpl> impl);
  std::unique_ptr<ServerImpl> impl_;
  std::unique_ptr<ShmRegistry> shm_;
};

// A started network front end (HTTP or gRPC).
class Frontend {
 public:
  virtual ~Frontend() = default;
  virtual int port() const = 0;  // the bound port (useful when 0 was asked for)
  virtual void stop() = 0;       // stop accepting; return once the listener is closed
};

// Implemented by src/server/grpc/ (helper S2) and compiled when KILN_SERVER_GRPC is defined; cmd_serve
// calls it after the HTTP front end has started. `port` 0 = pick a free port.
Result<std::unique_ptr<Frontend>> start_grpc_frontend(InferenceServer* server, const std::string& host, int port);

// Structured logging: one JSON line on stderr {"ts","level","msg", ...fields}. Thread-safe.
void log_json(const char* level, const std::string& msg, const std::map<std::string, std::string>& fields = {});

}  // namespace kiln::server
