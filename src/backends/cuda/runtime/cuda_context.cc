// CudaContext: binds inputs, runs the engine's nodes on one stream (CUDA kernels, host shape arithmetic, CPU
// fallbacks with explicit copies), plans the activation arena per input shape and replays CUDA graphs.
#include "backends/cuda/runtime/cuda_context.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/runtime/node_context.h"
#include "backends/reference/kernel.h"
#include "runtime/engine_access.h"
#include "runtime/executor.h"

namespace kiln::cuda {

namespace {

void collect_reads(const Graph& g, std::unordered_set<std::string>* names) {
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs) names->insert(in);
    for (const auto& [an, av] : n.attrs.all()) {
      if (auto* gp = std::get_if<GraphPtr>(&av)) collect_reads(**gp, names);
      if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av))
        for (const auto& s : *gs) collect_reads(*s, names);
    }
  }
  for (const auto& o : g.outputs) names->insert(o.name);
}

// Values a node reads: its inputs and whatever its subgraphs read from enclosing scopes.
std::unordered_set<std::string> reads_of(const Node& n) {
  std::unordered_set<std::string> r(n.inputs.begin(), n.inputs.end());
  for (const auto& [an, av] : n.attrs.all()) {
    if (auto* gp = std::get_if<GraphPtr>(&av)) collect_reads(**gp, &r);
    if (auto* gs = std::get_if<std::vector<GraphPtr>>(&av))
      for (const auto& s : *gs) collect_reads(*s, &r);
  }
  r.erase("");
  return r;
}

constexpr size_t kInitialWorkspace = 32u << 20;

}  // namespace

CudaContext::CudaContext(const Engine& engine, std::shared_ptr<CudaEngineState> state)
    : engine_(engine), graph_(engine.graph()), state_(std::move(state)) {}

CudaContext::~CudaContext() {
  if (!state_) return;
  cudaSetDevice(state_->device);
  if (stream_) cudaStreamSynchronize(stream_);
  destroy_graphs();
  free_dynamic_blocks();
  for (void* p : input_bufs_)
    if (p) cudaFree(p);
  if (arena_) cudaFree(arena_);
  if (workspace_) cudaFree(workspace_);
  if (pinned_) cudaFreeHost(pinned_);
  for (auto& e : ev_)
    if (e) cudaEventDestroy(e);
  node_state_.clear();
  if (cublaslt_) cublasLtDestroy(cublaslt_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaContext::init() {
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(state_->device));
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&props_, state_->device));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&cublaslt_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn_));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(cudnn_, stream_));
  for (auto& e : ev_) KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
  // Keep freed stream-ordered memory cached in the pool instead of returning it to the driver.
  cudaMemPool_t pool;
  if (cudaDeviceGetDefaultMemPool(&pool, state_->device) == cudaSuccess) {
    uint64_t threshold = UINT64_MAX;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, kInitialWorkspace));
  workspace_bytes_ = kInitialWorkspace;

  auto id_of = [&](const std::string& name) {
    auto [it, inserted] = ids_.emplace(name, static_cast<int>(slots_.size()));
    if (inserted) slots_.emplace_back();
    return it->second;
  };
  for (const auto& vi : graph_.inputs) input_ids_.push_back(id_of(vi.name));
  for (const auto& [name, t] : graph_.initializers) {
    int id = id_of(name);
    Slot& s = slots_[id];
    s.dtype = t.dtype();
    s.dims = t.dims();
    s.host = Value::of(t);
    s.on_host = true;
    s.persistent = true;
    auto w = state_->weights.find(name);
    if (w != state_->weights.end()) {
      s.dev = w->second.data;
      s.on_device = true;
    }
  }
  size_t n = graph_.nodes.size();
  node_inputs_.resize(n);
  node_outputs_.resize(n);
  dies_after_.resize(n);
  kernels_.assign(n, nullptr);
  placement_.resize(n);
  tactics_.assign(n, 0);
  tuned_dims_.assign(n, Dims{});
  shape_tactics_.assign(n, {});
  ran_tactics_.assign(n, 0);
  node_state_.resize(n);
  std::unordered_map<int, size_t> last;
  const std::vector<NodePlan>& plans = EngineAccess::plans(engine_);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = graph_.nodes[i];
    for (const auto& in : node.inputs) node_inputs_[i].push_back(in.empty() ? -1 : id_of(in));
    for (const auto& out : node.outputs) node_outputs_[i].push_back(out.empty() ? -1 : id_of(out));
    for (const auto& r : reads_of(node)) last[id_of(r)] = i;
    placement_[i] = i < plans.size() ? placement_of(plans[i]) : Placement::kCpu;
    tactics_[i] = i < plans.size() ? plans[i].tactic : 0;
    if (i < plans.size()) shape_tactics_[i] = plans[i].shape_tactics;
    const std::vector<int64_t> tuned = node.attrs.get_ints(kTacticDimsAttr, {});
    tuned_dims_[i] = Dims(tuned.begin(), tuned.end());
    if (placement_[i] == Placement::kCuda) {
      kernels_[i] = cuda_kernels().find(node.op);
      if (!kernels_[i]) placement_[i] = Placement::kCpu;  // engine from a Kiln with more kernels: still runs
    }
  }
  for (const auto& o : graph_.outputs) output_ids_.push_back(id_of(o.name));
  std::unordered_set<int> keep(output_ids_.begin(), output_ids_.end());
  keep.insert(input_ids_.begin(), input_ids_.end());
  for (const auto& [id, i] : last)
    if (!keep.count(id) && !slots_[id].persistent) dies_after_[i].push_back(id);
  input_bufs_.assign(input_ids_.size(), nullptr);
  input_buf_bytes_.assign(input_ids_.size(), 0);
  return ok_status();
}

Result<void*> CudaContext::pinned(size_t bytes) {
  if (bytes <= pinned_bytes_) return pinned_;
  if (pinned_) cudaFreeHost(pinned_);
  pinned_ = nullptr;
  pinned_bytes_ = 0;
  size_t want = std::max(bytes, pinned_bytes_ * 2);
  KILN_CUDA_RETURN_IF_ERROR(cudaMallocHost(&pinned_, want));
  pinned_bytes_ = want;
  return pinned_;
}

Status CudaContext::bind_inputs(const NamedValues& inputs) {
  return bind_inputs(inputs, DeviceInputs{});
}

Status CudaContext::bind_inputs(const NamedValues& inputs, const DeviceInputs& device_inputs) {
  KILN_RETURN_IF_ERROR(init_status_);
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(state_->device));
  for (const auto& [name, d] : device_inputs) {
    // A host address would be copied too (unified addressing), but the caller said device memory: say it is not.
    cudaPointerAttributes attr{};
    if (d.data && (cudaPointerGetAttributes(&attr, d.data) != cudaSuccess ||
                   (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged))) {
      cudaGetLastError();
      return invalid_argument("input '" + name + "': address is not CUDA device memory");
    }
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[0], stream_));
  if (!device_inputs.empty()) {
    // Order the device-to-device copies after what the legacy default stream holds: a DLPack producer that was
    // given no stream synchronizes its work with that stream before handing the tensor out.
    KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[6], cudaStreamLegacy));
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, ev_[6], 0));
  }
  size_t total = 0;  // staging bytes: inputs that are already page-locked are copied from where they are
  for (const auto& [name, v] : inputs)
    if (v.kind == ValueKind::kTensor && v.tensor.dtype() != DType::kString && !is_pinned_host_memory(v.tensor.raw()))
      total += v.tensor.nbytes();
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));  // the staging buffer may still feed the last copy
  KILN_ASSIGN_OR_RETURN(void* stage, pinned(std::max<size_t>(total, 1)));
  size_t off = 0;
  for (size_t k = 0; k < input_ids_.size(); ++k) {
    const std::string& name = graph_.inputs[k].name;
    const Value* v = nullptr;
    for (const auto& [n, val] : inputs)
      if (n == name) v = &val;
    const DeviceTensorView* dv = nullptr;
    for (const auto& [n, d] : device_inputs)
      if (n == name) dv = &d;
    Slot& s = slots_[input_ids_[k]];
    s = Slot{};
    s.persistent = true;
    if (dv) {  // device-resident: copied device to device; a host copy is made only if a host node reads it
      s.dtype = dv->dtype;
      s.dims = dv->dims;
      const size_t bytes = static_cast<size_t>(dims_numel(dv->dims)) * dtype_size(dv->dtype);
      KILN_RETURN_IF_ERROR(ensure_input_buffer(k, bytes));
      s.dev = input_bufs_[k];
      s.on_device = true;
      if (bytes) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.dev, dv->data, bytes, cudaMemcpyDefault, stream_));
      continue;
    }
    if (!v) continue;  // validated by ExecutionContext: only optional-like inputs can be absent
    s.host = *v;
    s.on_host = true;
    if (v->kind != ValueKind::kTensor || v->tensor.dtype() == DType::kString) continue;
    const Tensor& t = v->tensor;
    s.dtype = t.dtype();
    s.dims = t.dims();
    size_t bytes = t.nbytes();
    KILN_RETURN_IF_ERROR(ensure_input_buffer(k, bytes));
    s.dev = input_bufs_[k];
    s.on_device = true;
    if (bytes && is_pinned_host_memory(t.raw())) {
      // Already page-locked (a server's batch buffer, allocate_host_buffer): copy straight from it. Safe because
      // this function waits for the copies (ev_[1]) before returning.
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.dev, t.raw(), bytes, cudaMemcpyHostToDevice, stream_));
    } else if (bytes) {
      std::memcpy(static_cast<char*>(stage) + off, t.raw(), bytes);
      KILN_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(s.dev, static_cast<char*>(stage) + off, bytes, cudaMemcpyHostToDevice, stream_));
      off += bytes;
    }
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[1], stream_));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev_[1]));
  float ms = 0;
  cudaEventElapsedTime(&ms, ev_[0], ev_[1]);
  timings_.h2d_ms = ms;
  return ok_status();
}

Status CudaContext::ensure_input_buffer(size_t k, size_t bytes) {
  if (bytes <= input_buf_bytes_[k]) return ok_status();
  if (input_bufs_[k]) KILN_CUDA_RETURN_IF_ERROR(cudaFree(input_bufs_[k]));
  input_bufs_[k] = nullptr;
  input_buf_bytes_[k] = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&input_bufs_[k], bytes));
  input_buf_bytes_[k] = bytes;
  destroy_graphs();  // captured graphs read the old buffer
  return ok_status();
}

std::string CudaContext::signature() const {
  std::string s;
  for (int id : input_ids_) s += dims_to_string(slots_[id].dims) + ";";
  return s;
}

void CudaContext::destroy_graphs() {
  last_replay_sig_.clear();
  graph_outputs_.clear();
  for (auto& [sig, p] : plans_)
    if (p.graph) {
      cudaGraphExecDestroy(p.graph);
      p.graph = nullptr;
    }
}

Result<void*> CudaContext::allocate_block(size_t bytes, int* index) {
  Block b;
  b.bytes = bytes;
  b.refs = 1;
  if (mode_ == Mode::kPlanned && plan_ && alloc_counter_ < plan_->arena.sizes.size() &&
      bytes <= plan_->arena.sizes[alloc_counter_]) {
    b.ptr = static_cast<char*>(arena_) + plan_->arena.offsets[alloc_counter_];
  } else {
    if (mode_ == Mode::kPlanned) {
      if (capturing_) return internal_error("allocation outside the arena plan during CUDA graph capture");
      if (plan_) plan_->stale = true;  // shapes inside the run differ from the recording: re-record next time
      mark_unsafe("an allocation outside the arena plan (data-dependent shape)");
    }
    KILN_CUDA_RETURN_IF_ERROR(cudaMallocAsync(&b.ptr, bytes, stream_));
    b.dynamic = true;
    b.record = static_cast<int>(records_.size());
    records_.push_back({bytes, step_, step_});
  }
  ++alloc_counter_;
  *index = static_cast<int>(blocks_.size());
  blocks_.push_back(b);
  return b.ptr;
}

void CudaContext::unref_block(int bi) {
  Block& b = blocks_[bi];
  if (--b.refs > 0) return;
  if (b.record >= 0) records_[b.record].last = step_;
  if (b.dynamic && b.ptr) cudaFreeAsync(b.ptr, stream_);
  b.ptr = nullptr;
}

void CudaContext::free_dynamic_blocks() {
  for (auto& b : blocks_)
    if (b.dynamic && b.ptr && b.refs > 0) cudaFreeAsync(b.ptr, stream_);
  blocks_.clear();
}

Result<void*> CudaContext::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (capturing_) return internal_error("workspace growth during CUDA graph capture");
  mark_unsafe("workspace growth");
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  KILN_CUDA_RETURN_IF_ERROR(cudaFree(workspace_));
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
  destroy_graphs();
  return workspace_;
}

Status CudaContext::ensure_device(int id) {
  Slot& s = slots_[id];
  if (s.on_device) return ok_status();
  if (!s.on_host || s.host.kind != ValueKind::kTensor)
    return internal_error("value is neither on the device nor a host tensor");
  const Tensor& t = s.host.tensor;
  if (t.dtype() == DType::kString) return unimplemented("string tensors cannot be moved to the GPU");
  if (capturing_) return internal_error("host-to-device copy during CUDA graph capture");
  mark_unsafe("a host-to-device copy of a host value");
  s.dtype = t.dtype();
  s.dims = t.dims();
  int block = -1;
  void* p = nullptr;
  if (t.nbytes()) {
    KILN_ASSIGN_OR_RETURN(p, allocate_block(t.nbytes(), &block));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream_));
    // The host tensor may be freed before the copy runs: wait for it (host values are small).
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  }
  s.dev = p;
  s.block = block;
  s.on_device = true;
  return ok_status();
}

Status CudaContext::ensure_host(int id) {
  Slot& s = slots_[id];
  if (s.on_host) return ok_status();
  if (!s.on_device) return internal_error("value has no data");
  if (capturing_) return internal_error("device-to-host copy during CUDA graph capture");
  mark_unsafe("a device-to-host copy");
  s.host = Value{};  // a stale copy from an earlier run would keep the slot's buffer from being reused
  KILN_ASSIGN_OR_RETURN(Tensor t, copy_to_host(id));
  s.host = Value::of(std::move(t));
  s.on_host = true;
  return ok_status();
}

Result<Tensor> CudaContext::copy_to_host(int id) {
  const Slot& s = slots_[id];
  const int64_t numel = dims_numel(s.dims);
  const size_t bytes = numel > 0 ? static_cast<size_t>(numel) * dtype_size(s.dtype) : 0;
  if (host_bufs_.size() < slots_.size()) {
    host_bufs_.resize(slots_.size());
    host_buf_bytes_.resize(slots_.size(), 0);
  }
  std::shared_ptr<void>& buf = host_bufs_[static_cast<size_t>(id)];
  const bool cacheable = bytes > 0 && s.dtype != DType::kString;
  // The cached buffer when only the cache holds it (the caller let go of the last copy made in it).
  if (cacheable && (!buf || buf.use_count() == 1)) {
    if (!buf || host_buf_bytes_[static_cast<size_t>(id)] < bytes) {
      // First use, or a larger shape: a new page-locked buffer.
      KILN_ASSIGN_OR_RETURN(buf, allocate_host_buffer(bytes, /*pinned=*/true));
      host_buf_bytes_[static_cast<size_t>(id)] = bytes;
    }
    Tensor t = Tensor::wrap(s.dtype, s.dims, buf.get(), buf);
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(t.raw(), s.dev, bytes, cudaMemcpyDeviceToHost, stream_));
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return t;
  }
  // Someone still holds the last copy: fresh pageable memory, filled through the page-locked staging buffer.
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(s.dtype, s.dims));
  if (t.nbytes()) {
    KILN_ASSIGN_OR_RETURN(void* stage, pinned(t.nbytes()));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stage, s.dev, t.nbytes(), cudaMemcpyDeviceToHost, stream_));
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    std::memcpy(t.raw(), stage, t.nbytes());
  }
  return t;
}

}  // namespace kiln::cuda
