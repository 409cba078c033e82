// Per-model-version scheduling: a request queue, the dynamic batcher, and one worker thread per execution context.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/engine.h"
#include "server/inference_server.h"
#include "server/cuda_shm.h"
#include "server/model_config.pb.h"
#include "server/response_pool.h"
#include "server/tensor_codec.h"

namespace kiln::server {

uint64_t now_ns();  // steady clock

// The statistics' failure reason of a request that failed with `code`: kInternal -> "BACKEND" (the engine failed),
// kQueueFull/kTimeout -> "REJECTED", kCancelled -> "CANCELED", anything the request caused -> "OTHER".
const char* failure_reason(ServerCode code);

// One input as the engine receives it: the config name, dtype, and (optional) reshape target for the
// non-batch dims.
struct InputSpec {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims dims;     // config dims without the batch dim; -1 = any
  Dims reshape;  // empty = none
};
struct OutputSpec {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims dims;  // config dims without the batch dim
  // Classification extension (classification.h): the config's label_filename (relative to the model directory)
  // and its lines, read once per load by load_output_labels(); null = no labels.
  std::string label_filename;
  std::shared_ptr<const std::vector<std::string>> labels;
};

// Thread-safe statistics of one model version (Triton's statistics extension plus the metrics' histogram).
class StatsCollector {
 public:
  StatsCollector(std::string name, std::string version);
  void record_success(uint64_t request_ns, uint64_t queue_ns, uint64_t in_ns, uint64_t infer_ns, uint64_t out_ns);
  void record_failure(const char* reason, uint64_t request_ns);
  void record_batch(uint64_t rows, uint64_t in_ns, uint64_t infer_ns, uint64_t out_ns);
  // `requests` successes of one batch at once (one lock): the sums of their request and queue times, and the
  // batch's compute times, which each of them counts.
  void record_successes(uint64_t requests, uint64_t request_ns_sum, uint64_t queue_ns_sum, uint64_t in_ns,
                        uint64_t infer_ns, uint64_t out_ns);
  ModelStats snapshot() const;
  // Batch-size histogram (cumulative Prometheus buckets, sum, count).
  static const std::vector<uint64_t>& batch_buckets();
  void batch_histogram(std::vector<uint64_t>* cumulative, uint64_t* sum, uint64_t* count) const;

 private:
  mutable std::mutex mu_;
  ModelStats stats_;
  std::map<uint64_t, BatchStats> by_size_;
  std::vector<uint64_t> bucket_counts_;
  uint64_t batch_sum_ = 0, batch_count_ = 0;
};

// A validated request waiting in a queue.
struct QueuedRequest {
  InferRequest request;
  InferCallback done;
  std::shared_ptr<InferHandle> handle;
  int64_t rows = 1;          // the request's batch size (1 when the model does not batch)
  std::string shape_key;     // the non-batch dims of every input: only equal keys share a batch
  uint64_t start_ns = 0;     // when infer() was called
  uint64_t deadline_ns = 0;  // 0 = no timeout
  uint32_t level = 0;        // priority queue index, 0 = highest
};

struct SchedulerConfig {
  std::string model_name;
  std::string version;
  int64_t max_batch_size = 0;
  bool dynamic_batching = false;
  std::vector<int64_t> preferred_sizes;  // ascending
  uint64_t max_queue_delay_ns = 0;
  struct Level {
    uint64_t max_queue_size = 0;  // 0 = unlimited
    uint64_t default_timeout_us = 0;
    bool allow_override = false;
    bool reject_on_timeout = true;
  };
  std::vector<Level> levels;  // one per priority level (>= 1)
  uint32_t default_level = 0;
  int instances = 1;
  bool cuda_graphs = true;    // optimization.cuda.graphs (GPU instances)
  bool pinned_inputs = true;  // optimization.input_pinned_memory (GPU instances)
  bool eager_batching = false;  // optimization.eager_batching: instances assemble the next batch while one runs
  int cpu_threads = 0;        // intra-op threads per CPU instance; 0: the process's cores divided among them
  std::vector<InputSpec> inputs;
  std::vector<OutputSpec> outputs;

  static SchedulerConfig from(const ModelConfig& config, const std::string& version);
  // Reads each output's label_filename (relative to model_dir) into OutputSpec::labels (classification.cc);
  // fails naming the file when it cannot be read or leaves the model directory.
  Status load_labels(const std::string& model_dir);
};

// One execution context of a scheduler: the engine it runs (one Engine object per device: each holds that device's
// copy of the weights) and where it runs.
struct SchedulerInstance {
  std::shared_ptr<const Engine> engine;
  int device = -1;    // GPU index (placement's, simulated or real); -1 = CPU
  std::string label;  // "gpu0", "cpu": the device label of per-device metrics
};
// Executions one device's instances performed (per-device metrics).
struct DeviceExecStats {
  std::string device;  // label
  int instances = 0;
  uint64_t executions = 0;  // batches
  uint64_t inferences = 0;  // batch rows
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const Engine> engine, SchedulerConfig config, std::shared_ptr<StatsCollector> stats);
  // One context per entry of `instances` (config.instances is ignored); instances[0].engine is the engine whose
  // kind (CPU/GPU) decides padding and pinned inputs: all entries must be of one kind.
  Scheduler(std::vector<SchedulerInstance> instances, SchedulerConfig config, std::shared_ptr<StatsCollector> stats);
  ~Scheduler();  // stop()
  // Creates the execution contexts and worker threads.
  void start();
  // Queues a validated request (taking it from `request`); on rejection (queue full, stopping) leaves
  // `request` with the caller, calls nothing, and returns the error.
  ServerStatus enqueue(std::unique_ptr<QueuedRequest>& request);
  // Rejects new requests, runs everything already queued, then joins the workers. Idempotent.
  void stop();
  uint64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  const SchedulerConfig& config() const { return config_; }
  // Per device label, in order of first appearance among the instances.
  std::vector<DeviceExecStats> device_stats() const;
  const std::vector<SchedulerInstance>& instances() const { return instances_; }

 private:
  // Rows a batch of `rows` runs with: GPU engines pad (zero rows, results dropped) to the next preferred batch
  // size, else to max_batch_size, so that few shapes occur and their CUDA graphs are replayed.
  int64_t padded_rows(int64_t rows) const;
  // The labels of an output (its label_filename's lines), or null.
  const std::vector<std::string>* labels_of(const std::string& output) const;
  // Per instance and buffer set (index 2 * instance + set; set 1 only with eager batching): batch buffers by input.
  std::vector<std::map<std::string, BatchBuffer>> input_cache_;
  // The same for device batch buffers (batches holding CUDA shared-memory inputs; GPU instances).
  std::vector<std::map<std::string, DeviceBatchBuffer>> device_input_cache_;
  // Assembles input `name` of a batch (parts in batch order, `dims` the padded batch shape) in the instance's device
  // buffer and appends it to *device_inputs; kInternal naming the input and the GPU on a CUDA failure.
  ServerStatus gather_on_device(int instance, int buffers, const std::string& name,
                                const std::vector<const InferTensor*>& parts, const Dims& dims, size_t reserve,
                                DeviceInputs* device_inputs);

  void worker(int index);
  // Eager batching (optimization.eager_batching): this thread forms and assembles the next batch, in the other of
  // two buffer sets, while a runner thread of the instance runs the current one (on the GPU, for GPU instances).
  void eager_worker(int index);
  // A batch whose inputs are assembled, ready to run.
  struct PreparedBatch {
    std::vector<std::unique_ptr<QueuedRequest>> requests;
    NamedValues inputs;
    DeviceInputs device_inputs;
    int64_t total_rows = 0, run_rows = 0;  // rows of the requests, rows the engine runs (padded)
    uint64_t t0 = 0, t1 = 0;               // assembly start and end
  };
  // Assembles `batch`'s inputs in buffer set `buffers` (0 or 1) of the instance and moves the requests into *out.
  // to_device (GPU instances): inputs assembled in pinned host memory are also copied to the instance's device
  // buffer of that set, so that the run binds them device-to-device. false when no request is left to run (every
  // failure is answered here).
  bool prepare(int instance, int buffers, std::vector<std::unique_ptr<QueuedRequest>>& batch, PreparedBatch* out,
               bool to_device = false);
  // Copies an assembled host batch input (pinned) to the instance's device buffer of set `buffers` on the calling
  // thread's stream, waits for it, and appends the device view to *device_inputs.
  ServerStatus upload_ahead(int instance, int buffers, const std::string& name, const Tensor& host, size_t reserve,
                            DeviceInputs* device_inputs);
  // Eager batching copies each assembled batch to the GPU ahead of its run (KILN_SERVE_COPY_AHEAD=0: in the run's
  // bind_inputs, on the context's stream, as without eager batching).
  bool copy_ahead_ = true;
  // Per engine output: whether a request of the batch reads it on the host (in its response, as a classification,
  // or into system shared memory). Always true for engines that are not CUDA engines.
  std::vector<bool> outputs_read_on_host(const Engine& engine,
                                         const std::vector<std::unique_ptr<QueuedRequest>>& batch) const;
  // Runs a prepared batch on the instance's context, splits the outputs and answers its requests.
  void run_prepared(int instance, ExecutionContext* ctx, PreparedBatch& prepared);
  // Takes the next batch (or nothing when the thread should exit). Holds mu_. runner_busy (eager batching): while it
  // points to a non-zero flag, only a full batch (max_batch_size rows) is taken.
  bool next_batch(std::unique_lock<std::mutex>& lock, std::vector<std::unique_ptr<QueuedRequest>>* batch,
                  const char* runner_busy = nullptr);
  std::vector<char> runner_busy_;  // per instance, guarded by mu_: its eager-batching runner is running a batch
  void drop_dead(std::vector<std::unique_ptr<QueuedRequest>>* dead, uint64_t now);
  // prepare (buffer set 0) and run_prepared on this thread.
  void execute(int instance, ExecutionContext* ctx, std::vector<std::unique_ptr<QueuedRequest>>& batch);
  void finish(QueuedRequest& r, ServerStatus status, InferResponse response, const char* failure_reason);
  // Answers a batch's requests (responses[k] or failed[k] for batch[k]): on ResponsePool threads when it has any,
  // in chunks, else here.
  void answer(std::vector<std::unique_ptr<QueuedRequest>>& batch, std::vector<InferResponse>& responses,
              std::vector<ServerStatus>& failed);

  std::shared_ptr<const Engine> engine_;
  SchedulerConfig config_;
  std::shared_ptr<StatsCollector> stats_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::deque<std::unique_ptr<QueuedRequest>>> queues_;  // per priority level
  size_t queued_ = 0;
  int64_t queued_rows_ = 0;  // batch rows over all queued requests
  int idle_ = 0;             // workers waiting for any request
  int forming_ = 0;          // workers waiting out max_queue_delay for a batch to fill
  bool stopping_ = false;
  bool started_ = false;
  std::atomic<uint64_t> pending_{0};
  std::vector<std::unique_ptr<ExecutionContext>> contexts_;
  std::vector<SchedulerInstance> instances_;  // one per context
  struct InstanceCounters {
    std::atomic<uint64_t> executions{0}, inferences{0};
  };
  std::unique_ptr<InstanceCounters[]> counters_;  // one per instance
  std::vector<std::thread> threads_;
  JobTracker answering_;  // response jobs in the ResponsePool: stop() waits for them
};

}  // namespace kiln::server
