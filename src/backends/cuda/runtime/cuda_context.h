// One execution context of a CUDA engine: its stream, handles, activation arena, workspace and per-node state.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/kernel.h"
#include "runtime/arena_plan.h"
#include "backends/cuda/runtime/engine_state.h"
#include "runtime/context_backend.h"

namespace kiln::cuda {

class NodeContext;

// A value of the running graph: on the device, on the host, or both.
struct Slot {
  DType dtype = DType::kUndefined;
  Dims dims;
  void* dev = nullptr;
  int block = -1;  // owning activation block, -1 for weights and bound inputs
  bool on_device = false;
  Value host;
  bool on_host = false;
  bool persistent = false;  // weight or bound input: never freed by the executor
};

struct Block {
  void* ptr = nullptr;
  size_t bytes = 0;
  int refs = 0;
  int record = -1;       // index of its AllocationRecord in the current run
  bool dynamic = false;  // from cudaMallocAsync (recording run), not the arena
};

// Options for the build-time tuning run.
struct TuningOptions {
  int max_tactics = 4;
  int max_cheap_tactics = 4;  // for kernels with CudaKernel::cheap_tactics
  // Called for nodes with several tactics after timing them: (node index, tactic, ms per tactic).
  std::function<void(size_t, int64_t, const std::vector<double>&)> on_tuned;
  // Returns a cached tactic for the node (>= 0) or -1 to time it.
  std::function<int64_t(size_t, NodeContext&)> lookup;
  // Filled by tune(): the nodes whose fastest tactic cannot run inside a CUDA graph (CudaKernel::tactic_breaks_graphs),
  // with their fastest capturable tactic (-1: none), for the build's whole-run choice between the two.
  struct GraphBreakingChoice {
    size_t node = 0;
    int64_t fastest = 0, capturable = -1;
  };
  std::vector<GraphBreakingChoice> graph_breaking;
};

class CudaContext : public ContextBackend {
 public:
  CudaContext(const Engine& engine, std::shared_ptr<CudaEngineState> state);
  ~CudaContext() override;
  Status init();

  Status bind_inputs(const NamedValues& inputs) override;
  Status bind_inputs(const NamedValues& inputs, const DeviceInputs& device_inputs) override;
  Status execute() override;
  Status execute_back_to_back(int n) override;
  Status fetch_outputs(std::vector<Value>* outputs) override;
  Status fetch_outputs(std::vector<Value>* outputs, const std::vector<bool>& wanted) override;
  Result<DeviceTensorView> device_output(size_t index) override;
  void set_cuda_graph(bool enabled) override {
    use_graphs_ = enabled;
    last_replay_sig_.clear();
  }
  void set_profiling(bool enabled) override {
    profiling_ = enabled;
    last_replay_sig_.clear();
  }
  std::vector<LayerTiming> layer_timings() const override { return layers_; }
  RunTimings last_timings() const override { return timings_; }
  ContextMemory memory() const override;

  // Build-time: executes once, timing each tactic of nodes that have several; results go to options.on_tuned.
  Status tune(TuningOptions& options);
  // After tune(): the tactic node i ran with (its timed best, or a valid cached choice; 0 for single-tactic nodes).
  int64_t tuned_tactic(size_t i) const { return i < tactics_.size() ? tactics_[i] : 0; }

 private:
  friend class NodeContext;
  enum class Mode { kRecording, kPlanned };

  Status run_nodes();
  Status run_node(size_t i, int64_t tactic);
  Result<double> time_tactic(size_t i, int64_t tactic);  // ms per run of node i with `tactic`
  std::vector<double> time_tactics(size_t i, int n);     // ms per tactic 0..n-1 (-1: failed), close ones re-timed
  Status run_host_node(size_t i, bool fallback);
  Status release_dead_values(size_t i);
  Status finish_recording();
  void free_dynamic_blocks();
  Result<void*> allocate_block(size_t bytes, int* block_index);
  void unref_block(int b);
  Status ensure_device(int id);
  Status ensure_host(int id);
  // Slot id's device bytes copied to the host: into the slot's page-locked buffer when nobody holds the previous
  // copy from it (no allocation, no page faults, one DMA), else into fresh pageable memory through the staging buffer.
  Result<Tensor> copy_to_host(int id);
  Result<void*> workspace(size_t bytes);
  std::string signature() const;
  // Grows input k's device buffer to at least `bytes` (captured graphs read the old one: they are dropped).
  Status ensure_input_buffer(size_t k, size_t bytes);
  void destroy_graphs();

  const Engine& engine_;
  const Graph& graph_;
  std::shared_ptr<CudaEngineState> state_;
  Status init_status_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cudaDeviceProp props_{};
  cudaEvent_t ev_[7] = {};  // [0,1] bind, [2,3] execute, [4,5] profiling, [6] device inputs: legacy stream

  std::unordered_map<std::string, int> ids_;  // value name -> slot index
  std::vector<Slot> slots_;
  std::vector<std::vector<int>> node_inputs_, node_outputs_;  // slot ids (-1 for omitted)
  std::vector<std::vector<int>> dies_after_;                  // slot ids whose last reader is node i
  std::vector<int> input_ids_, output_ids_;
  std::vector<const CudaKernel*> kernels_;
  std::vector<Placement> placement_;
  std::vector<int64_t> tactics_;                          // the first profile's (plans), or the tuner's
  std::vector<Dims> tuned_dims_;                          // input 0 dims tactics_ was tuned at (empty: untuned)
  std::vector<std::vector<ShapeTactic>> shape_tactics_;   // tactics tuned at the other profiles' opt shapes
  std::vector<int64_t> ran_tactics_;                      // the tactic each node last ran (profiles)
  std::vector<std::shared_ptr<void>> node_state_;

  // Bound inputs: persistent device buffers (one per graph input), reused while large enough.
  std::vector<void*> input_bufs_;
  std::vector<size_t> input_buf_bytes_;
  void* pinned_ = nullptr;
  size_t pinned_bytes_ = 0;
  Result<void*> pinned(size_t bytes);
  // Host copies of device values (copy_to_host: engine outputs and ensure_host): one page-locked buffer per slot,
  // reused while nobody else holds the
  // previous run's copy, so a server's per-batch outputs neither fault in fresh pageable memory nor stage through the
  // driver (4 GPU instances took 37-62k minor page faults/s when every batch allocated and zeroed its outputs).
  std::vector<std::shared_ptr<void>> host_bufs_;
  std::vector<size_t> host_buf_bytes_;

  // Activations.
  std::vector<Block> blocks_;
  std::vector<int> scratch_blocks_;  // outputs nobody reads: released after their node
  Mode mode_ = Mode::kRecording;
  std::vector<AllocationRecord> records_;
  int step_ = 0;
  bool run_graph_safe_ = true;
  std::string unsafe_reason_;  // first event of this run that prevents capture
  void mark_unsafe(const std::string& why) {
    if (run_graph_safe_)
      unsafe_reason_ = why + " at " + graph_.nodes[std::min<size_t>(step_, graph_.nodes.size() - 1)].describe();
    run_graph_safe_ = false;
  }
  struct ShapePlan {
    ArenaPlan arena;
    bool graph_safe = false;
    bool replay_failed = false;  // a capture of these shapes replayed differently from a plain run: never capture again
    bool stale = false;
    cudaGraphExec_t graph = nullptr;
  };
  std::map<std::string, ShapePlan> plans_;
  ShapePlan* plan_ = nullptr;
  // Signature whose graph the previous execute() replayed ("" otherwise): the next execute() of the same
  // signature takes the replay fast path (no slot resets, no planning; only the graph launch and its outputs).
  std::string last_replay_sig_;
  Status replay_fast(ShapePlan& plan, const std::string& sig);
  // The engine outputs of the current slots, copied to the host (no slot changes).
  Result<std::vector<Tensor>> outputs_on_host();
  // After a capture's first launch: compares it with a plain run and drops a graph that differs (replay_check.h).
  Status check_first_replay();

  size_t alloc_counter_ = 0;
  // Where a captured graph leaves each engine output, per input signature (replays skip the host bookkeeping).
  std::map<std::string, std::vector<std::pair<int, Slot>>> graph_outputs_;
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0, arena_peak_ = 0;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;

  int replays_ = 1;   // graph launches one execute() queues when it replays (execute_back_to_back)
  int launched_ = 1;  // executions the last execute() ran (its compute_ms is per execution)
  std::string graph_note_ = "not captured yet (the first runs of a shape record and plan memory)";
  bool use_graphs_ = false, profiling_ = false, capturing_ = false;
  bool tuning_ = false;  // inside tune(): NodeContext::tuning()
  std::vector<LayerTiming> layers_;
  RunTimings timings_;
};

}  // namespace kiln::cuda
