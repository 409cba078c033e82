// The CPU ContextBackend: a flat slot table of values, each node resolved once to a CPU kernel or a reference
// kernel, CPU-kernel outputs placed in a liveness-planned activation arena once the input shapes are known.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/arena.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/output_pool.h"
#include "backends/cpu/subgraph_engines.h"
#include "backends/reference/kernel.h"
#include "runtime/context_backend.h"

namespace kiln::cpu {

// How one node of the engine graph runs.
struct CpuStep {
  const Node* node = nullptr;
  const NodePlan* plan = nullptr;     // the engine's plan for the node (tactic), or null
  const CpuKernel* kernel = nullptr;  // null: the reference kernel `ref`
  KernelFn ref = nullptr;
  std::vector<int> in;          // slot per input (-1: omitted)
  std::vector<int> out;         // slot per output (-1: not requested)
  std::vector<int> release;     // slots whose last reader is this node (freed after it)
  std::vector<std::pair<std::string, int>> outer;  // values its subgraphs read by name (If/Loop/Scan)
  SubgraphRunner runner;        // runs its subgraphs with `outer` visible: as CPU engines, else on the interpreter
  std::shared_ptr<void> state;  // the kernel's node_state()
  std::string note;             // why it runs on the reference kernel (profiling, errors)
};

class CpuContext : public ContextBackend {
 public:
  explicit CpuContext(const Engine& engine);
  Status bind_inputs(const NamedValues& inputs) override;
  Status execute() override;
  Status fetch_outputs(std::vector<Value>* outputs) override;
  void set_profiling(bool enabled) override { profiling_ = enabled; }
  std::vector<LayerTiming> layer_timings() const override { return layers_; }
  RunTimings last_timings() const override { return timings_; }
  ContextMemory memory() const override;
  void set_num_threads(int n) override;

  // Used by the kernel context while a CPU kernel runs step `s`.
  Result<Tensor*> allocate(int step, size_t out_index, DType dtype, const Dims& dims);
  Status alias(int step, size_t out_index, size_t in_index, const Dims& dims);
  Result<void*> workspace(size_t bytes);
  std::vector<Value>& slots() { return slots_; }
  const CpuStep& step(int s) const { return steps_[s]; }
  CpuStep& step(int s) { return steps_[s]; }
  bool is_constant_slot(int slot) const { return slot >= 0 && slot < static_cast<int>(constant_.size()) && constant_[slot]; }
  // Layout hand-offs between kernels (cpu_kernel.h CpuHandoff).
  bool private_output(int step, size_t out_index) const;
  bool readers_round_to_bf16(int step, size_t out_index) const;
  void attach_handoff(int step, size_t out_index, std::shared_ptr<CpuHandoff> h);
  CpuHandoff* handoff_of(int slot) const { return slot >= 0 ? handoff_[slot].get() : nullptr; }
  int num_threads() const { return step_threads_; }
  // --precision bf16/best, unless the build measured the node's kernel class faster in float32 (its plan's
  // precision: precision_choice.h).
  bool allow_bf16(int step) const { return allow_bf16_ && step_bf16_[step]; }

 private:
  Status resolve(const Graph& g);
  Status run_cpu_step(int s);
  Status materialize_inputs(int s);  // fills plain tensors behind hand-offs before a reader that needs them
  Status run_reference_step(int s);
  void after_step(int s);

  const Engine& engine_;
  Status init_status_;
  std::vector<CpuStep> steps_;
  std::vector<Value> slots_;
  std::vector<char> constant_;             // per slot: an initializer (bound once, never released)
  std::vector<std::string> slot_names_;
  std::vector<int> input_slots_;           // engine.inputs() order
  std::vector<int> output_slots_;          // engine.graph().outputs order
  std::vector<char> is_output_;            // per slot
  std::vector<std::vector<std::pair<int, int>>> readers_;  // per slot: (step, input index; -1 = a subgraph reads it)
  std::vector<std::shared_ptr<CpuHandoff>> handoff_;      // per slot: a producer's private layout, this run
  ArenaTracker arena_;
  std::shared_ptr<OutputPool> output_pool_ = OutputPool::create(4);  // graph outputs, recycled once the caller drops them
  std::vector<Dims> shapes_scratch_;       // input shapes of the current run
  std::vector<const Tensor*> step_inputs_scratch_;  // run_cpu_step: the step's input tensors (null: none)
  std::vector<uint8_t> workspace_;         // grows to the largest request
  size_t workspace_bytes_ = 0;
  int threads_ = 1;
  int step_threads_ = 1;  // threads of the step running now (1 for small steps, see run_cpu_step)
  SubgraphEngines subgraphs_;  // If/Loop/Scan bodies compiled as CPU engines, per body
  bool allow_bf16_ = false;
  std::vector<char> step_bf16_;
  bool profiling_ = false;
  std::vector<LayerTiming> layers_;
  RunTimings timings_;
};

// Intra-op threads when nothing is set: KILN_NUM_THREADS, else the cores this process may run on.
int default_num_threads();

}  // namespace kiln::cpu
