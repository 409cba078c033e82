// CudaContext's run loop: nodes in order, values freed after their last reader, arena planning per input shape,
// CUDA graph capture and replay, per-node profiling, build-time tactic timing, and fetching outputs.
#include <algorithm>
#include <cstring>
#include <iostream>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/runtime/cuda_context.h"
#include "backends/cuda/runtime/node_context.h"
#include "backends/cuda/runtime/replay_check.h"
#include "backends/cuda/runtime/spin.h"
#include "backends/reference/kernel.h"
#include "runtime/executor.h"

namespace kiln {

std::unique_ptr<ContextBackend> make_cuda_context(const Engine& engine);

namespace cuda {

namespace {

// A backend that reports why the GPU context could not be created.
class FailedContext : public ContextBackend {
 public:
  explicit FailedContext(Status st) : st_(std::move(st)) {}
  Status bind_inputs(const NamedValues&) override { return st_; }
  Status bind_inputs(const NamedValues&, const DeviceInputs&) override { return st_; }
  Status execute() override { return st_; }
  Status fetch_outputs(std::vector<Value>*) override { return st_; }
  Status fetch_outputs(std::vector<Value>*, const std::vector<bool>&) override { return st_; }
  Result<DeviceTensorView> device_output(size_t) override { return st_; }

 private:
  Status st_;
};

}  // namespace

Status CudaContext::run_host_node(size_t i, bool fallback) {
  const Node& node = graph_.nodes[i];
  std::vector<const Value*> ins;
  std::vector<Value> placeholders(node.inputs.size());
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    int id = node_inputs_[i][k];
    if (id < 0) {
      ins.push_back(nullptr);
      continue;
    }
    Slot& s = slots_[id];
    bool dims_only = (node.op == OpKind::kShape || node.op == OpKind::kSize) && k == 0 && !s.on_host;
    if (dims_only) {
      // Shape and Size read only the dims: no copy of the data.
      placeholders[k] = Value::of(Tensor::wrap(s.dtype, s.dims, nullptr, nullptr));
      ins.push_back(&placeholders[k]);
      continue;
    }
    KILN_RETURN_IF_ERROR(ensure_host(id).with_context(node.describe()));
    ins.push_back(&s.host);
  }
  // Subgraphs see the enclosing values they read, on the host.
  Scope outer;
  bool has_subgraph = false;
  for (const auto& [an, av] : node.attrs.all())
    has_subgraph |= std::holds_alternative<GraphPtr>(av) || std::holds_alternative<std::vector<GraphPtr>>(av);
  if (has_subgraph) {
    for (const auto& [name, id] : ids_) {
      Slot& s = slots_[id];
      if (!(s.on_host || s.on_device)) continue;
      KILN_RETURN_IF_ERROR(ensure_host(id));
      outer.set(name, s.host);
    }
  }
  SubgraphRunner runner = [&](const Graph& body, const std::vector<Value>& inputs) -> Result<std::vector<Value>> {
    Scope child(&outer);
    for (size_t k = 0; k < body.inputs.size() && k < inputs.size(); ++k) child.set(body.inputs[k].name, inputs[k]);
    return execute_graph(body, reference_kernels(), child);
  };
  KernelFn fn = reference_kernels().find(node.op);
  if (!fn) return unimplemented(node.describe() + ": op is supported by neither the CUDA nor the CPU backend");
  KernelContext kc(node, std::move(ins), runner);
  Status st = fn(kc);
  if (!st.ok()) return st.message().find(node.name) == std::string::npos ? st.with_context(node.describe()) : st;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    int id = node_outputs_[i][k];
    if (id < 0) continue;
    Slot& s = slots_[id];
    if (s.block >= 0) unref_block(s.block);
    s = Slot{};
    s.host = std::move(kc.outputs()[k]);
    s.on_host = true;
    if (s.host.kind == ValueKind::kTensor) {
      s.dtype = s.host.tensor.dtype();
      s.dims = s.host.tensor.dims();
    }
  }
  if (fallback) mark_unsafe("a CPU fallback node");
  return ok_status();
}

Status CudaContext::run_node(size_t i, int64_t tactic) {
  NodeContext nc(*this, i, tactic);
  nc.select_tactic();
  ran_tactics_[i] = nc.tactic();
  Status st = kernels_[i]->run(nc);
  if (st.ok()) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) st = cuda_status(e, "kernel launch");
  }
  if (!st.ok()) {
    const Node& node = graph_.nodes[i];
    return st.message().find(node.name) == std::string::npos ? st.with_context(node.describe()) : st;
  }
  return ok_status();
}

Status CudaContext::release_dead_values(size_t i) {
  for (int b : scratch_blocks_) unref_block(b);
  scratch_blocks_.clear();
  for (int id : dies_after_[i]) {
    Slot& s = slots_[id];
    if (s.block >= 0) unref_block(s.block);
    s.block = -1;
    s.dev = nullptr;
    s.on_device = false;
    s.host = Value{};
    s.on_host = false;
  }
  return ok_status();
}

Status CudaContext::run_nodes() {
  layers_.clear();
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    step_ = static_cast<int>(i);
    if (profiling_) KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[4], stream_));
    auto host_t0 = std::chrono::steady_clock::now();
    if (placement_[i] == Placement::kCuda) {
      KILN_RETURN_IF_ERROR(run_node(i, tactics_[i]));
    } else {
      KILN_RETURN_IF_ERROR(run_host_node(i, placement_[i] == Placement::kCpu));
    }
    if (profiling_) {
      KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[5], stream_));
      KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev_[5]));
      float ms = 0;
      cudaEventElapsedTime(&ms, ev_[4], ev_[5]);
      const Node& n = graph_.nodes[i];
      std::string kernel = "reference";
      if (placement_[i] == Placement::kCuda) {
        kernel = kernels_[i]->tactic_name ? kernels_[i]->tactic_name(n, ran_tactics_[i])
                                          : "tactic " + std::to_string(ran_tactics_[i]);
      } else {
        ms = static_cast<float>(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - host_t0).count());
      }
      layers_.push_back({n.name, op_name(n.op), placement_name(placement_[i]), kernel, ms});
    }
    KILN_RETURN_IF_ERROR(release_dead_values(i));
  }
  step_ = static_cast<int>(graph_.nodes.size());
  return ok_status();
}

Status CudaContext::finish_recording() {
  // Blocks still alive (graph outputs) end at the last step.
  for (const auto& b : blocks_)
    if (b.refs > 0 && b.record >= 0) records_[b.record].last = step_;
  ArenaPlan arena = plan_arena(records_);
  ShapePlan& p = plans_[signature()];
  if (p.graph) cudaGraphExecDestroy(p.graph);
  p = ShapePlan{};
  p.arena = std::move(arena);
  arena_peak_ = std::max(arena_peak_, p.arena.total);
  return ok_status();
}

// Launches the captured graph of `sig` (replays_ times) and restores its output slots. Valid right after an
// execute() that replayed the same graph: every other non-persistent slot is empty and no block is dynamic.
Status CudaContext::replay_fast(ShapePlan& plan, const std::string& sig) {
  plan_ = &plan;
  mode_ = Mode::kPlanned;
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[2], stream_));
  for (int r = 0; r < replays_; ++r) KILN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(plan.graph, stream_));
  launched_ = replays_;
  auto outs = graph_outputs_.find(sig);
  if (outs != graph_outputs_.end())
    for (const auto& [id, slot] : outs->second) slots_[id] = slot;
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[3], stream_));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev_[3]));
  float ms = 0;
  cudaEventElapsedTime(&ms, ev_[2], ev_[3]);
  timings_.compute_ms = ms / launched_;
  timings_.graph_replayed = true;
  timings_.graph_note.clear();
  return ok_status();
}

Status CudaContext::execute() {
  KILN_RETURN_IF_ERROR(init_status_);
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(state_->device));
  if (!last_replay_sig_.empty() && use_graphs_ && !profiling_) {
    const std::string sig = signature();
    auto it = plans_.find(sig);
    if (sig == last_replay_sig_ && it != plans_.end() && it->second.graph && !it->second.stale) {
      Status st = replay_fast(it->second, sig);
      if (!st.ok()) last_replay_sig_.clear();
      return st;
    }
  }
  last_replay_sig_.clear();
  // Free the previous run's surviving blocks (its outputs were fetched or abandoned).
  free_dynamic_blocks();
  for (size_t k = 0; k < slots_.size(); ++k)
    if (!slots_[k].persistent) slots_[k] = Slot{};
  records_.clear();
  alloc_counter_ = 0;
  run_graph_safe_ = true;
  unsafe_reason_.clear();
  timings_.graph_replayed = false;
  launched_ = 1;
  plan_ = nullptr;
  auto it = plans_.find(signature());
  mode_ = Mode::kRecording;
  if (it != plans_.end() && !it->second.stale) {
    plan_ = &it->second;
    if (plan_->arena.total > arena_bytes_) {
      KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      if (arena_) KILN_CUDA_RETURN_IF_ERROR(cudaFree(arena_));
      arena_ = nullptr;
      arena_bytes_ = 0;
      destroy_graphs();
      KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&arena_, plan_->arena.total));
      arena_bytes_ = plan_->arena.total;
    }
    mode_ = Mode::kPlanned;
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[2], stream_));
  if (mode_ == Mode::kPlanned && use_graphs_ && !profiling_ && plan_->graph_safe) {
    if (!plan_->graph) {
      KILN_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      capturing_ = true;
      Status st = run_nodes();
      capturing_ = false;
      cudaGraph_t g = nullptr;
      cudaError_t e = cudaStreamEndCapture(stream_, &g);
      if (st.ok() && e == cudaSuccess && g) {
        dump_captured_graph(g, signature());
        e = cudaGraphInstantiate(&plan_->graph, g, 0);
        cudaGraphDestroy(g);
      } else if (g) {
        cudaGraphDestroy(g);
      }
      if (!st.ok() || e != cudaSuccess) {
        // Something in the run cannot be captured: run it plainly from now on.
        graph_note_ = "capture failed: " + (st.ok() ? std::string(cudaGetErrorString(e)) : st.message());
        cudaGetLastError();
        plan_->graph = nullptr;
        plan_->graph_safe = false;
        for (size_t k = 0; k < slots_.size(); ++k)
          if (!slots_[k].persistent) slots_[k] = Slot{};
        blocks_.clear();
        alloc_counter_ = 0;
        KILN_RETURN_IF_ERROR(run_nodes());
      } else {
        KILN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(plan_->graph, stream_));
        timings_.graph_replayed = true;
        if (replay_check_enabled()) KILN_RETURN_IF_ERROR(check_first_replay());
      }
    } else {
      // Replay: the slots of this signature's outputs are where the capture left them.
      for (int r = 0; r < replays_; ++r) KILN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(plan_->graph, stream_));
      launched_ = replays_;
      timings_.graph_replayed = true;
      if (graph_outputs_.count(signature())) {
        for (const auto& [id, slot] : graph_outputs_[signature()]) slots_[id] = slot;
      }
    }
  } else {
    KILN_RETURN_IF_ERROR(run_nodes());
  }
  if (mode_ == Mode::kPlanned && plan_->graph && !graph_outputs_.count(signature())) {
    auto& saved = graph_outputs_[signature()];
    for (int id : output_ids_) saved.emplace_back(id, slots_[id]);
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[3], stream_));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev_[3]));
  float ms = 0;
  cudaEventElapsedTime(&ms, ev_[2], ev_[3]);
  timings_.compute_ms = ms / launched_;
  if (mode_ == Mode::kRecording) {
    KILN_RETURN_IF_ERROR(finish_recording());
  } else if (plan_) {
    if (plan_->stale) {
      plans_.erase(signature());
    } else if (!plan_->graph) {
      plan_->graph_safe = run_graph_safe_ && !plan_->replay_failed;
      if (!run_graph_safe_) graph_note_ = unsafe_reason_;
    }
  }
  timings_.graph_note = use_graphs_ && !timings_.graph_replayed ? graph_note_ : "";
  if (timings_.graph_replayed && plan_ && plan_->graph && !plan_->stale && graph_outputs_.count(signature()))
    last_replay_sig_ = signature();
  return ok_status();
}

Result<std::vector<Tensor>> CudaContext::outputs_on_host() {
  std::vector<Tensor> out;
  for (int id : output_ids_) {
    const Slot& s = slots_[id];
    if (!s.on_device) {
      out.push_back(s.on_host && s.host.kind == ValueKind::kTensor ? s.host.tensor : Tensor());
      continue;
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(s.dtype, s.dims));
    if (t.nbytes()) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(t.raw(), s.dev, t.nbytes(), cudaMemcpyDeviceToHost, stream_));
    out.push_back(std::move(t));
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return out;
}

// Right after a capture's first launch: runs the same nodes plainly into the same arena and compares the outputs.
// A graph that computes something else is dropped and this shape runs without graphs from now on (the plain run's
// outputs stand); seen with some cuDNN engines at batch sizes the build did not tune (docs/server.md).
Status CudaContext::check_first_replay() {
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> replayed, outputs_on_host());
  for (size_t k = 0; k < slots_.size(); ++k)
    if (!slots_[k].persistent) slots_[k] = Slot{};
  blocks_.clear();
  alloc_counter_ = 0;
  KILN_RETURN_IF_ERROR(run_nodes());
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> plain, outputs_on_host());
  std::vector<std::string> names;
  for (const auto& o : graph_.outputs) names.push_back(o.name);
  const std::string diff = first_difference(replayed, plain, names);
  if (diff.empty()) return ok_status();
  cudaGraphExecDestroy(plan_->graph);
  plan_->graph = nullptr;
  timings_.graph_replayed = false;
  run_graph_safe_ = false;
  plan_->replay_failed = true;  // keeps plan_->graph_safe false after later plain runs: no capture of these shapes again
  unsafe_reason_ = "the CUDA graph's replay differed from a plain run (" + diff + ") for input shapes " + signature();
  std::cerr << "kiln: " << unsafe_reason_ << "; these shapes run without CUDA graphs\n";
  return ok_status();
}

Status CudaContext::fetch_outputs(std::vector<Value>* outputs) {
  return fetch_outputs(outputs, std::vector<bool>(output_ids_.size(), true));
}

Result<DeviceTensorView> CudaContext::device_output(size_t index) {
  KILN_RETURN_IF_ERROR(init_status_);
  if (index >= output_ids_.size()) return invalid_argument("no engine output " + std::to_string(index));
  const Slot& s = slots_[output_ids_[index]];
  if (!s.on_device)
    return failed_precondition("engine output " + std::to_string(index) +
                               (s.on_host ? " is on the host (a CPU node made it)" : " was not produced"));
  return DeviceTensorView{s.dtype, s.dims, s.dev};
}

Status CudaContext::fetch_outputs(std::vector<Value>* outputs, const std::vector<bool>& wanted) {
  KILN_RETURN_IF_ERROR(init_status_);
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(state_->device));  // threads may serve contexts of several devices
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[0], stream_));
  outputs->clear();
  for (size_t k = 0; k < output_ids_.size(); ++k) {
    Slot& s = slots_[output_ids_[k]];
    if (k < wanted.size() && !wanted[k]) {
      outputs->emplace_back();
      continue;
    }
    if (s.on_host) {
      outputs->push_back(s.host);
      continue;
    }
    if (!s.on_device) return internal_error("an engine output was not produced");
    KILN_ASSIGN_OR_RETURN(Tensor t, copy_to_host(output_ids_[k]));
    outputs->push_back(Value::of(std::move(t)));
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[1], stream_));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev_[1]));
  float ms = 0;
  cudaEventElapsedTime(&ms, ev_[0], ev_[1]);
  timings_.d2h_ms = ms;
  return ok_status();
}

ContextMemory CudaContext::memory() const {
  ContextMemory m;
  m.weights = state_ ? state_->weight_bytes : 0;
  m.activations_peak = arena_peak_;
  m.workspace = workspace_bytes_;
  for (size_t b : input_buf_bytes_) m.io_buffers += b;
  m.io_buffers += pinned_bytes_;
  return m;
}

// One tactic's GPU time per run: a warm-up run (plans, caches), then kTimedRuns runs queued behind a spin kernel so
// that the events bracket GPU work only, not the host's launch overhead (which a CUDA graph removes at run time).
Result<double> CudaContext::time_tactic(size_t i, int64_t tactic) {
  constexpr int kTimedRuns = 5;
  auto run_once = [&]() -> Status {
    NodeContext nc(*this, i, tactic);
    Status st = kernels_[i]->run(nc);
    if (st.ok() && cudaGetLastError() != cudaSuccess) st = internal_error("launch failed");
    for (int b : scratch_blocks_) unref_block(b);
    scratch_blocks_.clear();
    for (int id : nc.produced()) {
      Slot& s = slots_[id];
      if (s.block >= 0) unref_block(s.block);
      s = Slot{};
    }
    return st;
  };
  Status st = run_once();
  if (cudaStreamSynchronize(stream_) != cudaSuccess && st.ok()) st = internal_error("tactic faulted");
  if (!st.ok()) return st;
  launch_spin(stream_, 200);
  cudaEventRecord(ev_[4], stream_);
  for (int r = 0; r < kTimedRuns && st.ok(); ++r) st = run_once();
  cudaEventRecord(ev_[5], stream_);
  if (cudaEventSynchronize(ev_[5]) != cudaSuccess && st.ok()) st = internal_error("tactic faulted");
  if (!st.ok()) return st;
  float e = 0;
  cudaEventElapsedTime(&e, ev_[4], ev_[5]);
  return static_cast<double>(e) / kTimedRuns;
}

namespace {

// Index of the smallest non-negative time (0 when none ran).
int64_t fastest(const std::vector<double>& ms) {
  int64_t best = 0;
  double best_ms = 1e30;
  for (size_t t = 0; t < ms.size(); ++t)
    if (ms[t] >= 0 && ms[t] < best_ms) {
      best_ms = ms[t];
      best = static_cast<int64_t>(t);
    }
  return best;
}

}  // namespace

// Times tactics 0..n-1 of node i (-1: the tactic failed). Close finishers are timed again and keep their best
// time, so that one noisy measurement does not pick a tactic that is slower in steady state.
std::vector<double> CudaContext::time_tactics(size_t i, int n) {
  constexpr int kRetimed = 4;
  std::vector<double> ms(n, -1.0);
  for (int t = 0; t < n; ++t) {
    Result<double> t_ms = time_tactic(i, t);
    if (t_ms.ok()) ms[t] = *t_ms;
  }
  std::vector<int> order;
  for (int t = 0; t < n; ++t)
    if (ms[t] >= 0) order.push_back(t);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return ms[a] < ms[b]; });
  if (order.size() > kRetimed) order.resize(kRetimed);
  for (int t : order) {
    Result<double> again = time_tactic(i, t);
    if (again.ok()) ms[t] = std::min(ms[t], *again);
  }
  cudaGetLastError();
  return ms;
}

Status CudaContext::execute_back_to_back(int n) {
  int done = 0;
  while (done < n) {
    replays_ = n - done;  // taken only by a graph replay; otherwise one plain execution
    Status st = execute();
    replays_ = 1;
    KILN_RETURN_IF_ERROR(st);
    done += launched_;
  }
  return ok_status();
}

Status CudaContext::tune(TuningOptions& options) {
  KILN_RETURN_IF_ERROR(init_status_);
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(state_->device));
  free_dynamic_blocks();
  records_.clear();
  mode_ = Mode::kRecording;
  plan_ = nullptr;
  tuning_ = true;
  struct TuningEnds {
    bool& flag;
    ~TuningEnds() { flag = false; }
  } tuning_ends{tuning_};
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    step_ = static_cast<int>(i);
    if (placement_[i] != Placement::kCuda) {
      KILN_RETURN_IF_ERROR(run_host_node(i, placement_[i] == Placement::kCpu));
      KILN_RETURN_IF_ERROR(release_dead_values(i));
      continue;
    }
    NodeContext probe(*this, i, 0);
    // The lookup first: it records the tuned input dims on the node, which decide the tactic list (conv_tactics).
    const int64_t cached = options.lookup ? options.lookup(i, probe) : -1;
    const int total = kernels_[i]->num_tactics ? kernels_[i]->num_tactics(probe) : 1;
    const int n = std::min(total, kernels_[i]->cheap_tactics ? options.max_cheap_tactics : options.max_tactics);
    int64_t best = 0;
    if (n > 1) {
      if (cached >= 0 && cached < n) {
        best = cached;
      } else {
        std::vector<double> ms = time_tactics(i, n);
        best = fastest(ms);
        if (options.on_tuned) options.on_tuned(i, best, ms);
        const auto breaks = kernels_[i]->tactic_breaks_graphs;
        if (breaks && breaks(probe, best)) {
          TuningOptions::GraphBreakingChoice choice{i, best, -1};
          double best_ms = 1e30;
          for (int t = 0; t < n; ++t)
            if (ms[t] >= 0 && ms[t] < best_ms && !breaks(probe, t)) {
              best_ms = ms[t];
              choice.capturable = t;
            }
          // None among the timed ones: the first capturable tactic further down the list that runs.
          for (int t = n; t < total && choice.capturable < 0; ++t)
            if (!breaks(probe, t) && time_tactic(i, t).ok()) choice.capturable = t;
          options.graph_breaking.push_back(choice);
        }
      }
    }
    tactics_[i] = best;
    KILN_RETURN_IF_ERROR(run_node(i, best));
    KILN_RETURN_IF_ERROR(release_dead_values(i));
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return ok_status();
}

}  // namespace cuda

std::unique_ptr<ContextBackend> make_cuda_context(const Engine& engine) {
  Status st;
  auto state = std::static_pointer_cast<cuda::CudaEngineState>(engine.backend_state(&st));
  if (!st.ok() || !state) return std::make_unique<cuda::FailedContext>(st.ok() ? internal_error("no GPU state") : st);
  auto ctx = std::make_unique<cuda::CudaContext>(engine, state);
  Status init = ctx->init();
  if (!init.ok()) return std::make_unique<cuda::FailedContext>(init);
  return ctx;
}

}  // namespace kiln
