// The dynamic batcher and instance workers: queue, batch formation, tensor concatenation and splitting.
#include "server/scheduler.h"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <optional>

#include <sched.h>

#include "server/classification.h"
#include "server/cuda_shm.h"  // device-side batch assembly of CUDA shared-memory inputs
#include "server/model_config.h"
#include "server/tensor_codec.h"
#include "server/trace.h"  // trace hook in execute()
#include "server/thread_name.h"

namespace kiln::server {

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// Cores this process may run on (its affinity mask), at least 1.
int usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

}  // namespace

SchedulerConfig SchedulerConfig::from(const ModelConfig& c, const std::string& version) {
  SchedulerConfig s;
  s.model_name = c.name();
  s.version = version;
  s.max_batch_size = c.max_batch_size();
  s.dynamic_batching = c.has_dynamic_batching() && c.max_batch_size() > 0;
  s.instances = instance_count(c);
  s.cuda_graphs = cuda_graphs_enabled(c);
  s.pinned_inputs = pinned_inputs_enabled(c);
  s.eager_batching = c.optimization().eager_batching();
  s.cpu_threads = intra_op_thread_count(c);
  const auto& db = c.dynamic_batching();
  for (int p : db.preferred_batch_size()) s.preferred_sizes.push_back(p);
  std::sort(s.preferred_sizes.begin(), s.preferred_sizes.end());
  s.max_queue_delay_ns = db.max_queue_delay_microseconds() * 1000;
  size_t n = std::max<uint64_t>(db.priority_levels(), 1);
  auto level_of = [](const ModelQueuePolicy& p) {
    Level l;
    l.max_queue_size = p.max_queue_size();
    l.default_timeout_us = p.default_timeout_microseconds();
    l.allow_override = p.allow_timeout_override();
    l.reject_on_timeout = p.timeout_action() == ModelQueuePolicy::REJECT;
    return l;
  };
  for (size_t i = 0; i < n; ++i) {
    auto it = db.priority_queue_policy().find(i + 1);
    s.levels.push_back(level_of(it != db.priority_queue_policy().end() ? it->second : db.default_queue_policy()));
  }
  s.default_level = db.priority_levels() > 0 ? static_cast<uint32_t>(db.default_priority_level() - 1) : 0;
  bool batched = c.max_batch_size() > 0;
  for (const auto& in : c.input()) {
    InputSpec spec;
    spec.name = in.name();
    dtype_from_config(in.data_type(), &spec.dtype);
    spec.dims.assign(in.dims().begin(), in.dims().end());
    if (in.has_reshape()) spec.reshape.assign(in.reshape().shape().begin(), in.reshape().shape().end());
    s.inputs.push_back(std::move(spec));
  }
  for (const auto& out : c.output()) {
    OutputSpec spec;
    spec.name = out.name();
    dtype_from_config(out.data_type(), &spec.dtype);
    spec.dims.assign(out.dims().begin(), out.dims().end());
    spec.label_filename = out.label_filename();
    s.outputs.push_back(std::move(spec));
  }
  (void)batched;
  return s;
}

const char* failure_reason(ServerCode code) {
  switch (code) {
    case ServerCode::kInternal:
      return "BACKEND";
    case ServerCode::kQueueFull:
    case ServerCode::kTimeout:
      return "REJECTED";
    case ServerCode::kCancelled:
      return "CANCELED";
    default:
      return "OTHER";
  }
}

const std::vector<std::string>* Scheduler::labels_of(const std::string& output) const {
  for (const auto& spec : config_.outputs)
    if (spec.name == output) return spec.labels.get();
  return nullptr;
}

Scheduler::Scheduler(std::shared_ptr<const Engine> engine, SchedulerConfig config,
                     std::shared_ptr<StatsCollector> stats)
    : engine_(std::move(engine)), config_(std::move(config)), stats_(std::move(stats)) {
  queues_.resize(config_.levels.size());
  const char* copy_ahead = std::getenv("KILN_SERVE_COPY_AHEAD");
  copy_ahead_ = !(copy_ahead && std::string(copy_ahead) == "0");
}

Scheduler::Scheduler(std::vector<SchedulerInstance> instances, SchedulerConfig config,
                     std::shared_ptr<StatsCollector> stats)
    : Scheduler(instances.empty() ? nullptr : instances[0].engine, std::move(config), std::move(stats)) {
  instances_ = std::move(instances);
  config_.instances = static_cast<int>(instances_.size());
}

Scheduler::~Scheduler() { stop(); }

std::vector<DeviceExecStats> Scheduler::device_stats() const {
  std::vector<DeviceExecStats> out;
  for (size_t i = 0; i < instances_.size(); ++i) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& d) { return d.device == instances_[i].label; });
    if (it == out.end()) it = out.insert(out.end(), DeviceExecStats{instances_[i].label});
    ++it->instances;
    if (counters_) {
      it->executions += counters_[i].executions.load(std::memory_order_relaxed);
      it->inferences += counters_[i].inferences.load(std::memory_order_relaxed);
    }
  }
  return out;
}

void Scheduler::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  if (instances_.empty())  // the single-engine constructor: config.instances contexts of one engine
    for (int i = 0; i < config_.instances; ++i)
      instances_.push_back({engine_, engine_->device(), engine_->info().backend == "cuda" ? "gpu" : "cpu"});
  counters_ = std::make_unique<InstanceCounters[]>(instances_.size());
  // CPU instances share the cores this process may use instead of each taking all of them.
  int cpu_instances = 0;
  for (const auto& inst : instances_) cpu_instances += inst.engine->info().backend != "cuda";
  const int cpu_threads =
      config_.cpu_threads > 0 ? config_.cpu_threads : std::max(1, usable_cores() / std::max(cpu_instances, 1));
  for (const auto& inst : instances_) {
    contexts_.push_back(inst.engine->create_context());
    // GPU engines replay CUDA graphs; batches are padded to a few sizes (run_rows) so that they are reused.
    if (inst.engine->info().backend == "cuda")
      contexts_.back()->set_cuda_graph(config_.cuda_graphs);
    else
      contexts_.back()->set_num_threads(cpu_threads);
  }
  runner_busy_.assign(static_cast<size_t>(config_.instances), 0);
  input_cache_.resize(2 * static_cast<size_t>(config_.instances));
  device_input_cache_.resize(2 * static_cast<size_t>(config_.instances));
  for (int i = 0; i < config_.instances; ++i) {
    threads_.emplace_back([this, i] { config_.eager_batching ? eager_worker(i) : worker(i); });
  }
}

ServerStatus Scheduler::enqueue(std::unique_ptr<QueuedRequest>& r) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_)
      return server_error(ServerCode::kUnavailable, "model '" + config_.model_name + "' version " + config_.version +
                                                        " is unloading or the server is shutting down");
    const auto& level = config_.levels[r->level];
    if (level.max_queue_size > 0 && queues_[r->level].size() >= level.max_queue_size)
      return server_error(ServerCode::kQueueFull, "model '" + config_.model_name + "': queue is full (max_queue_size " +
                                                      std::to_string(level.max_queue_size) + ")");
    pending_.fetch_add(1, std::memory_order_relaxed);
    queued_rows_ += r->rows;
    queues_[r->level].push_back(std::move(r));
    ++queued_;
    // Wake a worker only when one can act now: an idle worker when nobody is assembling a batch, or the
    // assembling worker once the queue holds a full or preferred batch. Busy workers look at the queue
    // when they finish, so skipping the futex wake here saves a context switch per request under load.
    if (!config_.dynamic_batching || forming_ == 0) {
      wake = idle_ > 0;
    } else {
      // From the smallest preferred size on, the forming worker may find a preferred batch (next_batch).
      wake = queued_rows_ >= config_.max_batch_size ||
             (!config_.preferred_sizes.empty() && queued_rows_ >= config_.preferred_sizes.front());
    }
  }
  if (wake) cv_.notify_one();
  return {};
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  answering_.wait_idle();  // every request is answered before stop() returns
  contexts_.clear();
}

void Scheduler::finish(QueuedRequest& r, ServerStatus status, InferResponse response, const char* failure_reason) {
  uint64_t elapsed = now_ns() - r.start_ns;
  if (!status.ok()) stats_->record_failure(failure_reason, elapsed);
  InferCallback done = std::move(r.done);
  pending_.fetch_sub(1, std::memory_order_relaxed);
  if (done) done(std::move(status), std::move(response));
}

void Scheduler::drop_dead(std::vector<std::unique_ptr<QueuedRequest>>* dead, uint64_t now) {
  for (size_t l = 0; l < queues_.size(); ++l) {
    auto& q = queues_[l];
    for (auto it = q.begin(); it != q.end();) {
      QueuedRequest& r = **it;
      bool expired = r.deadline_ns != 0 && now >= r.deadline_ns && config_.levels[l].reject_on_timeout;
      if (r.handle->cancelled() || expired) {
        queued_rows_ -= r.rows;
        dead->push_back(std::move(*it));
        it = q.erase(it);
        --queued_;
      } else {
        ++it;
      }
    }
  }
}

bool Scheduler::next_batch(std::unique_lock<std::mutex>& lock, std::vector<std::unique_ptr<QueuedRequest>>* batch,
                           const char* runner_busy) {
  std::vector<std::unique_ptr<QueuedRequest>> dead;
  auto flush_dead = [&] {
    if (dead.empty()) return;
    lock.unlock();
    for (auto& r : dead) {
      if (r->handle->cancelled())
        finish(*r, server_error(ServerCode::kCancelled, "request cancelled by the client"), {}, "CANCELED");
      else
        finish(
            *r,
            server_error(ServerCode::kTimeout, "request timed out in the queue of model '" + config_.model_name + "'"),
            {}, "REJECTED");
    }
    dead.clear();
    lock.lock();
  };
  for (;;) {
    if (queued_ == 0) {
      if (stopping_) return false;
      ++idle_;
      cv_.wait(lock);
      --idle_;
      continue;
    }
    uint64_t now = now_ns();
    drop_dead(&dead, now);
    if (!dead.empty()) {
      flush_dead();
      continue;
    }
    size_t first_level = 0;
    while (queues_[first_level].empty()) ++first_level;
    QueuedRequest& first = *queues_[first_level].front();
    if (!config_.dynamic_batching) {
      queued_rows_ -= first.rows;
      batch->push_back(std::move(queues_[first_level].front()));
      queues_[first_level].pop_front();
      --queued_;
      if (queued_ > 0 && idle_ > 0) cv_.notify_one();  // more work than this worker takes
      return true;
    }
    // Gather compatible requests in priority, then arrival, order while they fit.
    int64_t rows = 0;
    bool skipped_for_size = false;
    std::vector<std::pair<size_t, size_t>> picks;
    for (size_t l = first_level; l < queues_.size(); ++l) {
      for (size_t i = 0; i < queues_[l].size(); ++i) {
        const QueuedRequest& r = *queues_[l][i];
        if (r.shape_key != first.shape_key) continue;
        if (rows + r.rows > config_.max_batch_size) {
          skipped_for_size = true;
          continue;
        }
        rows += r.rows;
        picks.emplace_back(l, i);
      }
    }
    bool full = rows >= config_.max_batch_size || skipped_for_size;
    bool preferred = std::binary_search(config_.preferred_sizes.begin(), config_.preferred_sizes.end(), rows);
    if (!full && !preferred && !config_.preferred_sizes.empty() && rows > config_.preferred_sizes.front()) {
      // More than a preferred size is queued, yet no full or preferred batch: the largest preferred size that the
      // oldest picks fill exactly runs now (Triton's rule) instead of everything after the delay, which a GPU
      // engine would pad to the next preferred size (70 single-image requests run as 128 rows, not as 64 now).
      int64_t sum = 0;
      size_t best = 0;
      for (size_t k = 0; k < picks.size(); ++k) {
        sum += queues_[picks[k].first][picks[k].second]->rows;
        if (std::binary_search(config_.preferred_sizes.begin(), config_.preferred_sizes.end(), sum)) best = k + 1;
      }
      if (best > 0) {
        picks.resize(best);
        preferred = true;
      }
    }
    if (runner_busy && *runner_busy && !full && !stopping_) {
      // Eager batching while the instance's batch runs: only a full batch is taken now; anything smaller keeps
      // growing in the queue until the runner is free (it wakes us), as it would without eager batching.
      ++forming_;
      cv_.wait(lock);
      --forming_;
      continue;
    }
    uint64_t deadline = first.start_ns + config_.max_queue_delay_ns;
    if (!(full || preferred || stopping_ || now >= deadline)) {
      // Wake early for a request's timeout as well as the delay.
      ++forming_;
      cv_.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline)));
      --forming_;
      continue;
    }
    // Take the picks (erase from the back so indices stay valid).
    batch->resize(picks.size());
    for (size_t k = picks.size(); k-- > 0;) {
      auto [l, i] = picks[k];
      queued_rows_ -= queues_[l][i]->rows;
      (*batch)[k] = std::move(queues_[l][i]);
      queues_[l].erase(queues_[l].begin() + i);
      --queued_;
    }
    if (queued_ > 0 && idle_ > 0) cv_.notify_one();  // requests left behind (other shapes, overflow)
    return true;
  }
}

void Scheduler::worker(int index) {
  name_this_thread("kiln-inst" + std::to_string(index));
  ExecutionContext* ctx = contexts_[index].get();
  std::vector<std::unique_ptr<QueuedRequest>> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!next_batch(lock, &batch)) return;
    }
    execute(index, ctx, batch);
  }
}

void Scheduler::eager_worker(int index) {
  name_this_thread("kiln-form" + std::to_string(index));
  ExecutionContext* ctx = contexts_[static_cast<size_t>(index)].get();
  // The hand-off between this thread (forms and assembles batches) and the runner (runs and answers them). The slot
  // holds at most one assembled batch; a batch is formed only once the slot is empty, so the buffer set it is
  // assembled in (alternating 0, 1) is never the one the running batch was bound from.
  std::mutex m;
  std::condition_variable cv;
  std::optional<PreparedBatch> slot;
  bool done = false;
  std::thread runner([&] {
    name_this_thread("kiln-run" + std::to_string(index));
    for (;;) {
      PreparedBatch next;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return slot.has_value() || done; });
        if (!slot) return;
        next = std::move(*slot);
        slot.reset();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        runner_busy_[static_cast<size_t>(index)] = 1;
      }
      cv.notify_all();
      run_prepared(index, ctx, next);
      {
        std::lock_guard<std::mutex> lock(mu_);
        runner_busy_[static_cast<size_t>(index)] = 0;
      }
      cv_.notify_all();  // the assembler may be holding back a partial batch until now
    }
  });
  int buffers = 0;
  std::vector<std::unique_ptr<QueuedRequest>> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return !slot.has_value(); });
    }
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!next_batch(lock, &batch, &runner_busy_[static_cast<size_t>(index)])) break;
    }
    PreparedBatch prepared;
    if (!prepare(index, buffers, batch, &prepared, copy_ahead_)) continue;
    {
      std::lock_guard<std::mutex> lock(m);
      slot = std::move(prepared);
    }
    cv.notify_all();
    buffers ^= 1;
  }
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  runner.join();
}

ServerStatus Scheduler::gather_on_device(int instance, int buffers, const std::string& name,
                                        const std::vector<const InferTensor*>& parts, const Dims& dims,
                                        size_t reserve, DeviceInputs* device_inputs) {
  const DType dtype = parts[0]->dtype;
  const size_t total = static_cast<size_t>(dims_numel(dims)) * dtype_size(dtype);
  std::vector<GatherPart> copies;
  copies.reserve(parts.size());
  for (const InferTensor* p : parts) {
    const std::string_view b = p->bytes();
    copies.push_back({b.data(), b.size(), p->view_device >= 0});
  }
  const SchedulerInstance& where = instances_[static_cast<size_t>(instance)];
  const int device = where.engine->device() >= 0 ? where.engine->device() : std::max(where.device, 0);
  DeviceBatchBuffer& buffer = device_input_cache_[static_cast<size_t>(2 * instance + buffers)][name];
  std::string error;
  if (!cuda_gather(copies, total, reserve, device, &buffer, &error))
    return server_error(ServerCode::kInternal, "input '" + name + "': assembling the batch on GPU " +
                                                   std::to_string(device) + " failed: " + error);
  device_inputs->emplace_back(name, DeviceTensorView{dtype, dims, buffer.memory.get()});
  return {};
}

ServerStatus Scheduler::upload_ahead(int instance, int buffers, const std::string& name, const Tensor& host,
                                    size_t reserve, DeviceInputs* device_inputs) {
  const SchedulerInstance& where = instances_[static_cast<size_t>(instance)];
  const int device = where.engine->device() >= 0 ? where.engine->device() : std::max(where.device, 0);
  DeviceBatchBuffer& buffer = device_input_cache_[static_cast<size_t>(2 * instance + buffers)][name];
  std::string error;
  if (!cuda_gather({GatherPart{host.raw(), host.nbytes(), false}}, host.nbytes(), reserve, device, &buffer, &error))
    return server_error(ServerCode::kInternal, "input '" + name + "': copying the batch to GPU " +
                                                   std::to_string(device) + " failed: " + error);
  device_inputs->emplace_back(name, DeviceTensorView{host.dtype(), host.dims(), buffer.memory.get()});
  return {};
}

std::vector<bool> Scheduler::outputs_read_on_host(const Engine& engine,
                                                  const std::vector<std::unique_ptr<QueuedRequest>>& batch) const {
  const auto& outs = engine.outputs();
  std::vector<bool> wanted(outs.size(), engine.info().backend != "cuda");
  for (size_t i = 0; i < outs.size(); ++i) {
    for (const auto& r : batch) {
      if (wanted[i]) break;
      if (r->request.outputs.empty()) {  // every configured output, in the response
        for (const auto& spec : config_.outputs) wanted[i] = wanted[i] || spec.name == outs[i].name;
        continue;
      }
      for (const auto& o : r->request.outputs) {
        if (o.name != outs[i].name) continue;
        int64_t classes = 0;
        (void)classification_count(o, &classes);
        wanted[i] = wanted[i] || o.shm_device < 0 || classes > 0;
      }
    }
  }
  return wanted;
}

int64_t Scheduler::padded_rows(int64_t rows) const {
  // Only GPU engines gain from it (each new batch size costs a recording run and a graph capture); string
  // inputs cannot be padded.
  if (engine_->info().backend != "cuda") return rows;
  for (const auto& spec : config_.inputs)
    if (spec.dtype == DType::kString) return rows;
  for (int64_t p : config_.preferred_sizes)
    if (p >= rows) return p;
  if (!config_.preferred_sizes.empty()) return std::max(rows, config_.max_batch_size);
  // No preferred sizes: a ladder of 1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, ... (at most a third of a batch is
  // padding; about 2 log2(max) shapes to capture) up to max_batch_size. Padding every batch to max_batch_size made
  // one image per request at concurrency 128 on 4 instances run 32-row batches as 128-row ones.
  for (int64_t p = 1; p < config_.max_batch_size; p = p < 16 ? p * 2 : (p & (p - 1)) == 0 ? p + p / 2 : p / 3 * 4)
    if (p >= rows) return p;
  return std::max(rows, config_.max_batch_size);
}

void Scheduler::execute(int instance, ExecutionContext* ctx, std::vector<std::unique_ptr<QueuedRequest>>& batch) {
  PreparedBatch prepared;
  if (prepare(instance, 0, batch, &prepared)) run_prepared(instance, ctx, prepared);
}

bool Scheduler::prepare(int instance, int buffers, std::vector<std::unique_ptr<QueuedRequest>>& batch,
                        PreparedBatch* out, bool to_device) {
  const bool batched = config_.max_batch_size > 0;
  const uint64_t t0 = now_ns();
  int64_t total_rows = 0;
  for (auto& r : batch) total_rows += r->rows;
  const int64_t run_rows = batched ? padded_rows(total_rows) : total_rows;
  auto fail_all = [&](ServerStatus st, const char* reason) {
    for (auto& r : batch) finish(*r, st, {}, reason);
    return false;
  };
  std::map<std::string, BatchBuffer>* input_cache = &input_cache_[static_cast<size_t>(2 * instance + buffers)];
  NamedValues inputs;
  inputs.reserve(config_.inputs.size());
  DeviceInputs device_inputs;
  const bool gpu = engine_->info().backend == "cuda";
  for (const auto& spec : config_.inputs) {
    std::vector<const InferTensor*> parts;
    for (auto& r : batch) {
      for (const auto& t : r->request.inputs)
        if (t.name == spec.name) parts.push_back(&t);
    }
    Dims dims;
    const Dims& first_shape = parts[0]->shape;
    if (batched) {
      dims.push_back(run_rows);
      if (!spec.reshape.empty())
        dims.insert(dims.end(), spec.reshape.begin(), spec.reshape.end());
      else
        dims.insert(dims.end(), first_shape.begin() + 1, first_shape.end());
    } else {
      dims = spec.reshape.empty() ? first_shape : spec.reshape;
    }
    // GPU engines get a pinned batch buffer: bind_inputs copies it to the device without staging it. The buffer is
    // sized for max_batch_size rows at once (up to kMaxReserveBytes), so that batches of every size reuse it.
    constexpr size_t kMaxReserveBytes = size_t{1} << 30;
    size_t reserve = 0;
    if (batched && run_rows > 0) {
      const int64_t numel = dims_numel(dims);
      const size_t row_bytes = numel > 0 ? static_cast<size_t>(numel / run_rows) * dtype_size(parts[0]->dtype) : 0;
      if (row_bytes > 0 && row_bytes <= kMaxReserveBytes / static_cast<size_t>(config_.max_batch_size))
        reserve = row_bytes * static_cast<size_t>(config_.max_batch_size);
    }
    if (gpu && spec.dtype != DType::kString &&
        std::any_of(parts.begin(), parts.end(), [](const InferTensor* p) { return p->view_device >= 0; })) {
      // CUDA shared-memory inputs: the batch is assembled on the instance's GPU (device-to-device copies; host
      // parts of the same batch are copied host-to-device) and bound there, never staged through the host.
      ServerStatus gathered = gather_on_device(instance, buffers, spec.name, parts, dims, reserve, &device_inputs);
      if (!gathered.ok()) return fail_all(gathered, failure_reason(gathered.code));
      continue;
    }
    size_t bad_part = parts.size();
    auto tensor = concat_tensors(parts, parts[0]->dtype, dims, /*zero_fill_tail=*/run_rows != total_rows,
                                 &(*input_cache)[spec.name],
                                 /*pinned=*/config_.pinned_inputs && engine_->info().backend == "cuda", reserve,
                                 &bad_part);
    if (!tensor.ok()) {
      ServerStatus failed = ServerStatus::from(tensor.status());
      if (bad_part < parts.size() && batch.size() > 1) {
        // One request's shared-memory region was truncated while it waited: only that request fails; the rest of
        // the batch runs without it (parts are in batch order, one per request for this input).
        for (size_t k = 0; k < batch.size(); ++k) {
          const auto& ins = batch[k]->request.inputs;
          if (std::none_of(ins.begin(), ins.end(), [&](const InferTensor& t) { return &t == parts[bad_part]; }))
            continue;
          finish(*batch[k], failed, {}, failure_reason(failed.code));
          batch.erase(batch.begin() + static_cast<long>(k));
          return prepare(instance, buffers, batch, out, to_device);
        }
      }
      return fail_all(failed, failure_reason(failed.code));
    }
    if (to_device && gpu && spec.dtype != DType::kString && is_pinned_host_memory(tensor->raw())) {
      // Eager batching on a GPU instance: the assembled batch goes to the instance's device buffer now, on this
      // thread's own stream, while the runner's batch computes; the runner then binds it device-to-device.
      ServerStatus uploaded = upload_ahead(instance, buffers, spec.name, *tensor, reserve, &device_inputs);
      if (!uploaded.ok()) return fail_all(uploaded, failure_reason(uploaded.code));
      continue;
    }
    inputs.emplace_back(spec.name, Value::of(std::move(tensor).value()));
  }
  out->requests = std::move(batch);
  batch.clear();
  out->inputs = std::move(inputs);
  out->device_inputs = std::move(device_inputs);
  out->total_rows = total_rows;
  out->run_rows = run_rows;
  out->t0 = t0;
  out->t1 = now_ns();
  return true;
}

void Scheduler::run_prepared(int instance, ExecutionContext* ctx, PreparedBatch& prepared) {
  const bool batched = config_.max_batch_size > 0;
  std::vector<std::unique_ptr<QueuedRequest>>& batch = prepared.requests;
  const int64_t total_rows = prepared.total_rows, run_rows = prepared.run_rows;
  const uint64_t t0 = prepared.t0, t1 = prepared.t1;
  auto fail_all = [&](ServerStatus st, const char* reason) {
    for (auto& r : batch) finish(*r, st, {}, reason);
  };
  NamedValues outputs;
  Status st = ctx->bind_inputs(prepared.inputs, prepared.device_inputs);
  if (st.ok()) st = ctx->execute();
  prepared.inputs.clear();
  prepared.device_inputs.clear();
  // Outputs asked for only into CUDA shared memory (or by nobody) stay on the GPU: not fetched, their rows are
  // copied device-to-device into the regions below.
  std::vector<bool> on_host(ctx->engine().outputs().size(), true);
  const bool gpu_engine = ctx->engine().info().backend == "cuda";
  if (st.ok()) {
    on_host = outputs_read_on_host(ctx->engine(), batch);
    for (size_t i = 0; i < on_host.size(); ++i)
      if (!on_host[i] && !ctx->device_output(i).ok()) on_host[i] = true;  // made on the host (a CPU fallback node)
    st = ctx->fetch_outputs(&outputs, on_host);
  }
  uint64_t t2 = now_ns();
  if (!st.ok()) {
    // The status and the statistics agree: an engine error the request caused (bad values, too large) is a 400
    // counted as OTHER; only a failure of the engine itself is a 500 counted as BACKEND.
    ServerStatus failed = ServerStatus::from(st);
    return fail_all(failed, failure_reason(failed.code));
  }
  // Split outputs back per request.
  std::vector<InferResponse> responses(batch.size());
  std::vector<ServerStatus> failed(batch.size());  // a request's own error (its shared-memory output too small)
  int64_t offset = 0;
  for (size_t k = 0; k < batch.size(); ++k) {
    QueuedRequest& r = *batch[k];
    InferResponse& resp = responses[k];
    resp.model_name = config_.model_name;
    resp.model_version = config_.version;
    resp.id = r.request.id;
    auto emit = [&](const std::string& name, const RequestedOutput* target) -> ServerStatus {
      for (size_t i = 0; i < outputs.size(); ++i) {
        const auto& [oname, v] = outputs[i];
        if (oname != name) continue;
        // Into a client's CUDA region: from the GPU (device-to-device), even when the batch also fetched this output
        // for other requests; the view stays valid until this context's next bind or execute.
        Result<DeviceTensorView> dev = failed_precondition("not asked for into CUDA shared memory");
        if (gpu_engine && target && target->shm_device >= 0) dev = ctx->device_output(i);
        if (dev.ok()) {
          if (batched && (dev->dims.empty() || dev->dims[0] != run_rows))
            return server_error(ServerCode::kInternal, "output '" + name + "' has shape " +
                                                           dims_to_string(dev->dims) + ", expected a first (batch) dim of " +
                                                           std::to_string(run_rows));
          InferTensor out;
          out.name = name;
          ServerStatus written = slice_device_rows(*dev, batched ? offset : -1, r.rows, &out, *target);
          if (!written.ok()) {
            failed[k] = std::move(written);
            return {};
          }
          resp.outputs.push_back(std::move(out));
          return {};
        }
        if (!v.is_tensor()) return server_error(ServerCode::kInternal, "output '" + name + "' is not a tensor");
        const Tensor& t = v.tensor;
        if (batched && (t.rank() == 0 || t.dim(0) != run_rows))
          return server_error(ServerCode::kInternal, "output '" + name + "' has shape " + dims_to_string(t.dims()) +
                                                         ", expected a first (batch) dim of " +
                                                         std::to_string(run_rows));
        InferTensor out;
        out.name = name;
        out.dtype = t.dtype();
        // Classification extension: top-k strings instead of the tensor (the parameter was validated on arrival).
        int64_t classes = 0;
        if (target) (void)classification_count(*target, &classes);
        ServerStatus written;
        if (classes > 0)
          written = classify(t, batched ? offset : -1, r.rows, classes, labels_of(name), &out, target);
        else
          written = batched ? slice_rows(t, offset, r.rows, &out, target) : slice_rows(t, -1, 0, &out, target);
        if (!written.ok()) {
          failed[k] = std::move(written);
          return {};
        }
        resp.outputs.push_back(std::move(out));
        return {};
      }
      return server_error(ServerCode::kInternal, "the model produced no output '" + name + "'");
    };
    ServerStatus ok;
    if (r.request.outputs.empty()) {
      for (const auto& spec : config_.outputs)
        if (ok.ok()) ok = emit(spec.name, nullptr);
    } else {
      for (const auto& o : r.request.outputs)
        if (ok.ok()) ok = emit(o.name, &o);
    }
    if (!ok.ok()) return fail_all(ok, failure_reason(ok.code));
    offset += r.rows;
  }
  outputs.clear();
  uint64_t t3 = now_ns();
  // Counted with the model's statistics, before any request is answered: a client holding its response sees its
  // batch in /metrics.
  counters_[instance].executions.fetch_add(1, std::memory_order_relaxed);
  counters_[instance].inferences.fetch_add(static_cast<uint64_t>(total_rows), std::memory_order_relaxed);
  stats_->record_batch(total_rows, t1 - t0, t2 - t1, t3 - t2);
  uint64_t succeeded = 0, request_ns = 0, queue_ns = 0;
  const uint64_t t4 = now_ns();
  for (size_t k = 0; k < batch.size(); ++k) {
    if (!failed[k].ok()) continue;
    ++succeeded;
    request_ns += t4 - batch[k]->start_ns;
    queue_ns += t0 - std::min(t0, batch[k]->start_ns);
  }
  if (succeeded) stats_->record_successes(succeeded, request_ns, queue_ns, t1 - t0, t2 - t1, t3 - t2);
  // ---- trace hook (trace.h): sampled requests' timestamps; one relaxed load when tracing is off ----
  if (Tracer::get().enabled()) {
    for (size_t k = 0; k < batch.size(); ++k)
      if (failed[k].ok())
        Tracer::get().record(config_.model_name, config_.version, batch[k]->request.id,
                             {batch[k]->start_ns, batch[k]->start_ns, t0, t1, t2, t3, t4}, &batch[k]->request.inputs,
                             &responses[k].outputs);
  }
  answer(batch, responses, failed);
}

void Scheduler::answer(std::vector<std::unique_ptr<QueuedRequest>>& batch, std::vector<InferResponse>& responses,
                       std::vector<ServerStatus>& failed) {
  auto answer_one = [this](QueuedRequest& r, InferResponse& response, ServerStatus& failure) {
    if (!failure.ok())
      finish(r, failure, {}, failure_reason(failure.code));
    else
      finish(r, {}, std::move(response), nullptr);
  };
  // Requests per job: a handoff costs about as much as answering a few requests.
  constexpr size_t kMinChunk = 8;
  ResponsePool& pool = ResponsePool::get();
  const size_t n = batch.size();
  const size_t jobs = std::min<size_t>(static_cast<size_t>(pool.threads()), (n + kMinChunk - 1) / kMinChunk);
  if (jobs == 0) {  // no pool threads
    for (size_t k = 0; k < n; ++k) answer_one(*batch[k], responses[k], failed[k]);
    return;
  }
  struct Answers {
    std::vector<std::unique_ptr<QueuedRequest>> batch;
    std::vector<InferResponse> responses;
    std::vector<ServerStatus> failed;
  };
  auto shared = std::make_shared<Answers>(Answers{std::move(batch), std::move(responses), std::move(failed)});
  batch.clear();
  const size_t per = (n + jobs - 1) / jobs;
  for (size_t begin = 0; begin < n; begin += per) {
    answering_.started();
    pool.submit([this, shared, answer_one, begin, end = std::min(n, begin + per)]() mutable {
      for (size_t k = begin; k < end; ++k) answer_one(*shared->batch[k], shared->responses[k], shared->failed[k]);
      // The last job frees the batch's requests (input bytes, shared-memory holds) before stop() can return.
      shared.reset();
      answering_.finished();
    });
  }
}

}  // namespace kiln::server
