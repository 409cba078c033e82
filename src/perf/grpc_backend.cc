// kiln perf over KServe v2 gRPC (our kserve_v2.proto stubs): one channel (one HTTP/2 connection) per worker.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "perf/client.h"
#include "perf/shm_client.h"
#include "server/grpc/kserve_v2.grpc.pb.h"

namespace kiln::perf {
namespace {

using Stub = inference::GRPCInferenceService::Stub;

// Connections the asynchronous closed loop spreads its calls over (HTTP/2 multiplexes the rest).
constexpr int kAsyncChannels = 4;

Status grpc_error(const grpc::Status& s, const std::string& what, const std::string& target) {
  StatusCode code = StatusCode::kFailedPrecondition;
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) code = StatusCode::kNotFound;
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) code = StatusCode::kInvalidArgument;
  std::string message = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE)
    message = "cannot reach the server at " + target + ": " + message;
  return Status(code, what + ": gRPC " + std::to_string(static_cast<int>(s.error_code())) + ": " + message);
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& target, size_t max_bytes, bool own_connection) {
  grpc::ChannelArguments args;
  const int limit = static_cast<int>(std::min<size_t>(max_bytes, INT_MAX));
  args.SetMaxReceiveMessageSize(limit);
  args.SetMaxSendMessageSize(limit);
  // Without a local subchannel pool, channels to the same target share one TCP connection.
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

class GrpcWorker final : public InferWorker {
 public:
  GrpcWorker(std::shared_ptr<grpc::Channel> channel, std::string target,
             std::shared_ptr<const std::vector<inference::ModelInferRequest>> requests)
      : channel_(std::move(channel)),
        stub_(inference::GRPCInferenceService::NewStub(channel_)),
        target_(std::move(target)),
        requests_(std::move(requests)) {}

  Status infer(size_t index, CallTiming* timing) override {
    grpc::ClientContext ctx;
    response_.Clear();
    grpc::Status s = stub_->ModelInfer(&ctx, (*requests_)[index % requests_->size()], &response_);
    if (!s.ok()) return grpc_error(s, "infer", target_);
    return ok_status();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::string target_;
  std::shared_ptr<const std::vector<inference::ModelInferRequest>> requests_;
  inference::ModelInferResponse response_;
};

// Closed-loop load on grpc's completion-queue client API: `concurrency` slots, each reissuing its request when the
// previous one completes. The slots are split over `lanes`, each a completion queue polled by its own thread (one
// thread issuing and completing every call bounds the client near 10k calls/s, below what a GPU server answers),
// and calls are spread over a few channels (connections).
class GrpcCqLoad final : public AsyncLoad {
 public:
  GrpcCqLoad(std::vector<std::unique_ptr<Stub>> stubs, std::string target,
             std::shared_ptr<const std::vector<inference::ModelInferRequest>> requests, int concurrency, int lanes,
             RecordFn record)
      : stubs_(std::move(stubs)),
        target_(std::move(target)),
        requests_(std::move(requests)),
        record_(std::move(record)),
        lanes_(static_cast<size_t>(std::max(1, std::min(lanes, concurrency)))),
        slots_(static_cast<size_t>(concurrency)) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].id = static_cast<int>(i);
      slots_[i].index = i;
      slots_[i].lane = &lanes_[i % lanes_.size()];
      ++slots_[i].lane->outstanding;
    }
    for (Slot& s : slots_) issue(s);
    for (Lane& l : lanes_) l.thread = std::thread([this, &l] { poll(l); });
  }
  ~GrpcCqLoad() override { stop(); }

  void stop() override {
    stopping_ = true;
    for (Lane& l : lanes_)
      if (l.thread.joinable()) l.thread.join();
  }

 private:
  struct Lane {
    grpc::CompletionQueue cq;
    int outstanding = 0;  // touched only by the lane's thread after construction
    std::thread thread;
  };
  struct Slot {
    int id = 0;
    size_t index = 0;
    Lane* lane = nullptr;
    std::optional<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
    inference::ModelInferResponse resp;
    grpc::Status status;
    std::chrono::steady_clock::time_point start;
  };

  void issue(Slot& s) {
    s.ctx.emplace();  // the previous call on this slot has completed: its context may go
    s.resp.Clear();
    s.start = std::chrono::steady_clock::now();
    Stub* stub = stubs_[static_cast<size_t>(s.id) % stubs_.size()].get();
    s.reader = stub->AsyncModelInfer(&*s.ctx, (*requests_)[s.index++ % requests_->size()], &s.lane->cq);
    s.reader->Finish(&s.resp, &s.status, &s);
  }

  void poll(Lane& lane) {
    void* tag = nullptr;
    bool ok = false;
    while (lane.cq.Next(&tag, &ok)) {
      Slot& s = *static_cast<Slot*>(tag);
      const int64_t latency =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - s.start).count();
      record_(s.id, latency, CallTiming{}, s.status.ok() ? ok_status() : grpc_error(s.status, "infer", target_));
      if (!s.status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // no busy loop
      if (!stopping_) {
        issue(s);
      } else if (--lane.outstanding == 0) {
        lane.cq.Shutdown();  // Next() returns false once drained
      }
    }
  }

  std::vector<std::unique_ptr<Stub>> stubs_;
  std::string target_;
  std::shared_ptr<const std::vector<inference::ModelInferRequest>> requests_;
  RecordFn record_;
  std::vector<Lane> lanes_;  // sized once: slots point into it; outlives the slots' calls (destroyed after them)
  std::vector<Slot> slots_;  // sized once: tags stay valid
  std::atomic<bool> stopping_{false};
};

class GrpcBackend final : public Backend {
 public:
  GrpcBackend(std::string target, const PerfOptions& options)
      : target_(std::move(target)),
        options_(options),
        control_(inference::GRPCInferenceService::NewStub(make_channel(target_, options.max_message_bytes, false))) {}

  Result<ModelInfo> model_info(const std::string& model, const std::string& version) override {
    inference::ModelMetadataRequest req;
    req.set_name(model);
    req.set_version(version);
    inference::ModelMetadataResponse md;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = control_->ModelMetadata(&ctx, req, &md);
    if (!s.ok()) return grpc_error(s, "model metadata", target_);
    ModelInfo info;
    info.name = model;
    info.version = version;
    for (const auto& t : md.inputs())
      info.inputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
    for (const auto& t : md.outputs())
      info.outputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
    inference::ModelConfigRequest creq;
    creq.set_name(model);
    creq.set_version(version);
    inference::ModelConfigResponse config;
    grpc::ClientContext cctx;
    cctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (control_->ModelConfig(&cctx, creq, &config).ok()) info.max_batch_size = config.config().max_batch_size();
    return info;
  }

  Result<ServerStats> statistics(const std::string& model, const std::string& version) override {
    inference::ModelStatisticsRequest req;
    req.set_name(model);
    req.set_version(version);
    inference::ModelStatisticsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = control_->ModelStatistics(&ctx, req, &resp);
    if (!s.ok()) return grpc_error(s, "model statistics", target_);
    ServerStats out;
    for (const auto& m : resp.model_stats()) {
      const auto& is = m.inference_stats();
      out.inference_count += m.inference_count();
      out.execution_count += m.execution_count();
      out.success_count += is.success().count();
      out.success_ns += is.success().ns();
      out.queue_count += is.queue().count();
      out.queue_ns += is.queue().ns();
      out.compute_input_count += is.compute_input().count();
      out.compute_input_ns += is.compute_input().ns();
      out.compute_infer_count += is.compute_infer().count();
      out.compute_infer_ns += is.compute_infer().ns();
      out.compute_output_count += is.compute_output().count();
      out.compute_output_ns += is.compute_output().ns();
    }
    return out;
  }

  ~GrpcBackend() override { release_shm(); }

  Status prepare(const ModelInfo& model, const std::vector<RequestInputs>& requests) override {
    auto built = std::make_shared<std::vector<inference::ModelInferRequest>>();
    if (options_.shared_memory != ShmKind::kNone) KILN_RETURN_IF_ERROR(setup_shm(model, requests));
    for (size_t r = 0; r < requests.size(); ++r) {
      const RequestInputs& inputs = requests[r];
      const ShmRequestRegions* shm = shm_ ? &shm_->requests()[r] : nullptr;
      inference::ModelInferRequest req;
      req.set_model_name(model.name);
      req.set_model_version(model.version);
      size_t total = 0;
      auto set_shm = [](const ShmTensorRef& ref, google::protobuf::Map<std::string, inference::InferParameter>* p) {
        (*p)["shared_memory_region"].set_string_param(ref.region);
        (*p)["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(ref.byte_size));
        if (ref.offset) (*p)["shared_memory_offset"].set_int64_param(static_cast<int64_t>(ref.offset));
      };
      for (size_t i = 0; i < inputs.size(); ++i) {
        const InputTensor& t = inputs[i];
        auto* in = req.add_inputs();
        in->set_name(t.name);
        in->set_datatype(t.datatype);
        for (int64_t d : t.shape) in->add_shape(d);
        if (shm) {
          set_shm(shm->inputs[i], in->mutable_parameters());
          continue;
        }
        *req.add_raw_input_contents() = t.bytes;
        total += t.bytes.size();
      }
      if (shm)
        for (size_t o = 0; o < model.outputs.size(); ++o) {
          auto* out = req.add_outputs();
          out->set_name(model.outputs[o].name);
          set_shm(shm->outputs[o], out->mutable_parameters());
        }
      if (total > options_.max_message_bytes)
        return resource_exhausted("the request (" + std::to_string(total) + " bytes) is over the message limit");
      built->push_back(std::move(req));
    }
    requests_ = std::move(built);
    return ok_status();
  }

  Result<std::unique_ptr<AsyncLoad>> start_async_load(int concurrency, size_t data_sets, RecordFn record) override {
    if (!requests_) return failed_precondition("prepare() was not called");
    std::vector<std::unique_ptr<Stub>> stubs;
    const int lanes = async_lanes(concurrency);
    const int channels = std::max(1, std::min(std::max(kAsyncChannels, lanes), concurrency));
    for (int i = 0; i < channels; ++i)
      stubs.push_back(
          inference::GRPCInferenceService::NewStub(make_channel(target_, options_.max_message_bytes, true)));
    return std::unique_ptr<AsyncLoad>(
        std::make_unique<GrpcCqLoad>(std::move(stubs), target_, requests_, concurrency, lanes, std::move(record)));
  }

  Result<std::unique_ptr<InferWorker>> make_worker() override {
    if (!requests_) return failed_precondition("prepare() was not called");
    return std::unique_ptr<InferWorker>(
        std::make_unique<GrpcWorker>(make_channel(target_, options_.max_message_bytes, true), target_, requests_));
  }

 private:
  // Creates the shared memory and registers every region (SystemSharedMemoryRegister / CudaSharedMemoryRegister).
  Status setup_shm(const ModelInfo& model, const std::vector<RequestInputs>& requests) {
    release_shm();
    KILN_ASSIGN_OR_RETURN(shm_, PerfShm::create(options_.shared_memory, model, requests, options_.batch_size,
                                                options_.output_shared_memory_size, options_.cuda_device));
    for (const ShmRegistration& r : shm_->registrations()) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status s;
      if (shm_->kind() == ShmKind::kCuda) {
        inference::CudaSharedMemoryRegisterRequest req;
        req.set_name(r.name);
        req.set_raw_handle(r.raw_handle);
        req.set_device_id(r.device);
        req.set_byte_size(r.byte_size);
        inference::CudaSharedMemoryRegisterResponse resp;
        s = control_->CudaSharedMemoryRegister(&ctx, req, &resp);
      } else {
        inference::SystemSharedMemoryRegisterRequest req;
        req.set_name(r.name);
        req.set_key(r.key);
        req.set_offset(r.offset);
        req.set_byte_size(r.byte_size);
        inference::SystemSharedMemoryRegisterResponse resp;
        s = control_->SystemSharedMemoryRegister(&ctx, req, &resp);
      }
      if (!s.ok()) return grpc_error(s, "register shared memory region '" + r.name + "'", target_);
      registered_.push_back(r.name);
    }
    return ok_status();
  }
  // Unregisters the regions, then frees the memory (the server has closed its mappings by then).
  void release_shm() {
    for (const std::string& name : registered_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      if (shm_ && shm_->kind() == ShmKind::kCuda) {
        inference::CudaSharedMemoryUnregisterRequest req;
        req.set_name(name);
        inference::CudaSharedMemoryUnregisterResponse resp;
        (void)control_->CudaSharedMemoryUnregister(&ctx, req, &resp);
      } else {
        inference::SystemSharedMemoryUnregisterRequest req;
        req.set_name(name);
        inference::SystemSharedMemoryUnregisterResponse resp;
        (void)control_->SystemSharedMemoryUnregister(&ctx, req, &resp);
      }
    }
    registered_.clear();
    shm_.reset();
  }

  std::string target_;
  PerfOptions options_;
  std::unique_ptr<Stub> control_;
  std::shared_ptr<const std::vector<inference::ModelInferRequest>> requests_;
  std::unique_ptr<PerfShm> shm_;
  std::vector<std::string> registered_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_grpc_backend(const std::string& host, int port, const PerfOptions& options) {
  const std::string target =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  return std::unique_ptr<Backend>(std::make_unique<GrpcBackend>(target, options));
}

}  // namespace kiln::perf
