// The gRPC service: inference.GRPCInferenceService on grpc++'s callback API, delegating to InferenceServer.
#include "server/grpc/grpc_frontend.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/grpc/connection_cap.h"
#include "server/grpc/grpc_convert.h"
#include "server/grpc/kserve_v2.grpc.pb.h"
#include "server/scheduler.h"  // now_ns
#include "server/shm_registry.h"
#include "server/trace.h"

namespace kiln::server {
namespace {

namespace gc = grpc_convert;
using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

const char kShuttingDown[] = "server is shutting down";

// Calls and stream requests not yet answered, and the drain flag. A drain lets them finish (wait_idle) while new
// calls and new stream requests are answered UNAVAILABLE "server is shutting down".
class Inflight {
 public:
  void enter(int64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    count_ += n;
  }
  void leave(int64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    count_ -= n;
    if (count_ == 0) cv_.notify_all();
  }
  // True once nothing is in flight; false at the deadline.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return count_ == 0; });
  }
  void drain() { draining_.store(true); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t count_ = 0;
  std::atomic<bool> draining_{false};
};

grpc::Status shutting_down() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, kShuttingDown); }

// One ModelInfer call. Its lifetime is grpc's: OnDone() (after Finish) deletes it. The infer callback may run
// on any thread, even inside InferenceServer::infer(), so the cancel handle lives in shared state that both
// the reactor and the callback can reach safely.
class InferReactor : public ServerUnaryReactor {
 public:
  struct Shared {
    std::mutex mu;
    std::shared_ptr<InferHandle> handle;
    bool cancelled = false;
  };

  // ModelInfer is served raw (ByteBuffer in and out) so that a request that is not a valid ModelInferRequest
  // is answered INVALID_ARGUMENT (grpc's typed handler would answer UNIMPLEMENTED) and so that the parsed
  // message is ours: its raw tensor bytes are moved into the InferRequest instead of copied.
  InferReactor(InferenceServer& server, Inflight& inflight, const grpc::ByteBuffer* request,
               grpc::ByteBuffer* response)
      : shared_(std::make_shared<Shared>()), inflight_(inflight), start_ns_(now_ns()) {
    inflight_.enter();  // left in OnDone, once the answer is sent
    if (inflight_.draining()) {
      Finish(shutting_down());
      return;
    }
    inference::ModelInferRequest message;
    grpc::ByteBuffer buffer(*request);  // shares the slices; Deserialize consumes its argument
    if (!grpc::SerializationTraits<inference::ModelInferRequest>::Deserialize(&buffer, &message).ok()) {
      server.count_rejected_request("grpc", "MALFORMED");
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed ModelInferRequest (protobuf parse error)"));
      return;
    }
    InferRequest req;
    ServerStatus st = gc::request_from_proto(message, &req);
    if (!st.ok()) {
      server.count_rejected_request("grpc", "MALFORMED");
      Finish(gc::to_grpc_status(st));
      return;
    }
    req.protocol = "grpc";
    std::shared_ptr<Shared> shared = shared_;
    model_ = req.model_name;
    std::shared_ptr<InferHandle> handle =
        server.infer(std::move(req), [this, response](ServerStatus status, InferResponse result) {
          if (log_verbose_level() >= 1)
            log_json("info", "request",
                     {{"protocol", "grpc"},
                      {"request_id", result.id},
                      {"model", model_},
                      {"status", server_code_name(status.code)},
                      {"duration_us", std::to_string((now_ns() - start_ns_) / 1000)}});
          if (!status.ok()) {
            Finish(gc::to_grpc_status(status));
            return;
          }
          inference::ModelInferResponse message;
          gc::response_to_proto(std::move(result), &message);
          bool own_buffer = false;
          grpc::Status serialized =
              grpc::SerializationTraits<inference::ModelInferResponse>::Serialize(message, response, &own_buffer);
          Finish(serialized);
        });
    // From here `this` may already be deleted (the callback can have finished the call): touch only `shared`.
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->handle = std::move(handle);
    if (shared->cancelled && shared->handle) shared->handle->cancel();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->cancelled = true;
    if (shared_->handle) shared_->handle->cancel();
  }
  void OnDone() override {
    inflight_.leave();
    delete this;
  }

 private:
  std::shared_ptr<Shared> shared_;
  Inflight& inflight_;
  uint64_t start_ns_;
  std::string model_;
};

// One ModelStreamInfer stream: every request read is queued on the InferenceServer at once; responses are
// written in completion order (each carries the request id), one write in flight at a time. A failed request
// yields a response with error_message and the stream goes on. The stream finishes once the client has
// half-closed and every request has been answered; a cancelled stream cancels its queued requests.
class StreamReactor
    : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamReactor(InferenceServer& server, Inflight& inflight) : server_(server), inflight_(inflight) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool finish;
      {
        std::lock_guard<std::mutex> lock(mu_);
        reading_done_ = true;
        finish = should_finish_locked();
      }
      if (finish) Finish(grpc::Status::OK);
      return;
    }
    InferRequest req;
    ServerStatus st = inflight_.draining() ? server_error(ServerCode::kUnavailable, kShuttingDown)
                                           : gc::request_from_proto(request_, &req);
    req.protocol = "grpc";
    if (!st.ok()) server_.count_rejected_request("grpc", st.code == ServerCode::kUnavailable ? "SHUTTING_DOWN" : "MALFORMED");
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++pending_;
    }
    inflight_.enter();  // this request, until its response is written (OnWriteDone) or the stream ends
    if (!st.ok()) {
      inference::ModelStreamInferResponse r;
      r.set_error_message(std::string(server_code_name(st.code)) + ": " + st.message);
      r.mutable_infer_response()->set_id(request_.id());
      deliver(std::move(r));
    } else {
      uint64_t seq;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seq = next_seq_++;
      }
      auto handle =
          server_.infer(std::move(req), [this, seq, id = request_.id(), model = request_.model_name(),
                                         start = now_ns()](ServerStatus status, InferResponse result) {
            if (log_verbose_level() >= 1)
              log_json("info", "request",
                       {{"protocol", "grpc-stream"},
                        {"request_id", result.id.empty() ? id : result.id},
                        {"model", model},
                        {"status", server_code_name(status.code)},
                        {"duration_us", std::to_string((now_ns() - start) / 1000)}});
            {
              std::lock_guard<std::mutex> lock(mu_);
              if (handles_.erase(seq) == 0) answered_early_.insert(seq);
            }
            inference::ModelStreamInferResponse r;
            if (status.ok()) {
              gc::response_to_proto(std::move(result), r.mutable_infer_response());
            } else {
              r.set_error_message(std::string(server_code_name(status.code)) + ": " + status.message);
              // Errors carry the request's id so that a streaming client can match them.
              r.mutable_infer_response()->set_id(result.id.empty() ? id : result.id);
            }
            deliver(std::move(r));
          });
      std::lock_guard<std::mutex> lock(mu_);
      // Keep the handle only while the request is outstanding (the callback may already have run).
      if (answered_early_.erase(seq) == 0 && handle) {
        if (cancelled_) handle->cancel();
        handles_.emplace(seq, std::move(handle));
      }
    }
    request_.Clear();
    StartRead(&request_);
  }

  // grpc may run a reaction inline inside StartWrite/Finish, so neither is ever called with mu_ held.
  void OnWriteDone(bool ok) override {
    const inference::ModelStreamInferResponse* next = nullptr;
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out_.pop_front();
      --pending_;
      inflight_.leave();
      if (!out_.empty()) {
        next = &out_.front();
      } else {
        writing_ = false;
        finish = should_finish_locked();
      }
    }
    if (next) StartWrite(next);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    for (auto& [seq, h] : handles_) h->cancel();
  }
  void OnDone() override {
    if (pending_ > 0) inflight_.leave(pending_);  // requests never answered (a cancelled stream)
    delete this;
  }

 private:
  void deliver(inference::ModelStreamInferResponse r) {
    const inference::ModelStreamInferResponse* first = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out_.push_back(std::move(r));  // deque: the element being written keeps its address
      if (!writing_) {
        writing_ = true;
        first = &out_.front();
      }
    }
    if (first) StartWrite(first);
  }
  bool should_finish_locked() {
    if (reading_done_ && pending_ == 0 && !writing_ && !finished_) {
      finished_ = true;
      handles_.clear();
      return true;
    }
    return false;
  }

  InferenceServer& server_;
  Inflight& inflight_;
  inference::ModelInferRequest request_;
  std::mutex mu_;
  std::deque<inference::ModelStreamInferResponse> out_;
  std::unordered_map<uint64_t, std::shared_ptr<InferHandle>> handles_;  // outstanding requests by sequence
  std::unordered_set<uint64_t> answered_early_;                         // answered before infer() returned its handle
  uint64_t next_seq_ = 0;
  int64_t pending_ = 0;  // requests read and not yet answered (written)
  bool writing_ = false, reading_done_ = false, cancelled_ = false, finished_ = false;
};

using ServiceBase =
    inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<inference::GRPCInferenceService::CallbackService>;

// Every rpc answers UNAVAILABLE "server is shutting down" once a drain began, except ServerLive (still live) and
// ServerReady (ready: false).
#define KILN_GRPC_REFUSE_WHEN_DRAINING(ctx) \
  if (inflight_.draining()) return done(ctx, shutting_down())

class Service final : public ServiceBase {
 public:
  explicit Service(InferenceServer& server) : server_(server) {}

  Inflight& inflight() { return inflight_; }

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                 inference::ServerLiveResponse* resp) override {
    resp->set_live(server_.live());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                  inference::ServerReadyResponse* resp) override {
    resp->set_ready(server_.ready() && !inflight_.draining());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                 inference::ModelReadyResponse* resp) override {
    resp->set_ready(!inflight_.draining() && server_.model_ready(req->name(), req->version()));
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                     inference::ServerMetadataResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    const auto md = server_.metadata();
    resp->set_name(md.name);
    resp->set_version(md.version);
    for (const auto& e : md.extensions) resp->add_extensions(e);
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                    inference::ModelMetadataResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    auto md = server_.model_metadata(req->name(), req->version());
    if (!md.ok()) return done(ctx, from_status(md.status()));
    gc::metadata_to_proto(*md, resp);
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                  inference::ModelConfigResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    auto config = server_.model_config(req->name(), req->version());
    if (!config.ok()) return done(ctx, from_status(config.status()));
    if (!gc::config_to_proto(*config, resp->mutable_config()))
      return done(ctx, grpc::Status(grpc::StatusCode::INTERNAL, "model configuration could not be encoded"));
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
                                      inference::ModelStatisticsResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    auto stats = server_.statistics(req->name(), req->version());
    if (!stats.ok()) return done(ctx, from_status(stats.status()));
    for (const ModelStats& s : *stats) gc::stats_to_proto(s, resp->add_model_stats());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
                                      inference::RepositoryIndexResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    for (const RepositoryEntry& e : server_.repository_index(req->ready())) {
      auto* m = resp->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return done(ctx, grpc::Status::OK);
  }
  // Load and unload block (a load may compile an engine): they run on the server's bounded model-control queue
  // (InferenceServer::submit_control) so that grpc's callback threads stay free; a full queue is UNAVAILABLE.
  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
                                          inference::RepositoryModelLoadResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    Parameters params;
    for (const auto& [key, p] : req->parameters()) {
      switch (p.parameter_choice_case()) {
        case inference::ModelRepositoryParameter::kBoolParam:
          params[key] = p.bool_param();
          break;
        case inference::ModelRepositoryParameter::kInt64Param:
          params[key] = p.int64_param();
          break;
        case inference::ModelRepositoryParameter::kStringParam:
          params[key] = p.string_param();
          break;
        case inference::ModelRepositoryParameter::kBytesParam:
          params[key] = p.bytes_param();
          break;
        default:
          return done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "load parameter '" + key + "' has no value"));
      }
    }
    return run_control(ctx, [this, name = req->model_name(), params = std::move(params)] {
      return server_.load_model(name, params);
    });
  }
  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inference::RepositoryModelUnloadRequest* req,
                                            inference::RepositoryModelUnloadResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    return run_control(ctx, [this, name = req->model_name()] { return server_.unload_model(name); });
  }
  ServerUnaryReactor* SystemSharedMemoryStatus(CallbackServerContext* ctx,
                                               const inference::SystemSharedMemoryStatusRequest* req,
                                               inference::SystemSharedMemoryStatusResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    std::vector<ShmRegionStatus> regions;
    ServerStatus st = server_.shared_memory().status(req->name(), &regions);
    if (!st.ok()) return done(ctx, gc::to_grpc_status(st));
    for (const auto& r : regions) {
      auto& o = (*resp->mutable_regions())[r.name];
      o.set_name(r.name);
      o.set_key(r.key);
      o.set_offset(r.offset);
      o.set_byte_size(r.byte_size);
    }
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* SystemSharedMemoryRegister(CallbackServerContext* ctx,
                                                 const inference::SystemSharedMemoryRegisterRequest* req,
                                                 inference::SystemSharedMemoryRegisterResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    return done(ctx, gc::to_grpc_status(server_.shared_memory().register_region(req->name(), req->key(), req->offset(),
                                                                                req->byte_size())));
  }
  ServerUnaryReactor* SystemSharedMemoryUnregister(CallbackServerContext* ctx,
                                                   const inference::SystemSharedMemoryUnregisterRequest* req,
                                                   inference::SystemSharedMemoryUnregisterResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    return done(ctx, gc::to_grpc_status(server_.shared_memory().unregister(req->name())));
  }
  // CUDA shared memory: the registry (shm_registry.h) opens the IPC handles; on builds or hosts without CUDA it
  // answers INVALID_ARGUMENT "CUDA shared memory is not available: ...".
  ServerUnaryReactor* CudaSharedMemoryStatus(CallbackServerContext* ctx,
                                             const inference::CudaSharedMemoryStatusRequest* req,
                                             inference::CudaSharedMemoryStatusResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    std::vector<CudaShmRegionStatus> regions;
    ServerStatus st = server_.shared_memory().cuda_status(req->name(), &regions);
    if (!st.ok()) return done(ctx, gc::to_grpc_status(st));
    for (const auto& r : regions) {
      auto& o = (*resp->mutable_regions())[r.name];
      o.set_name(r.name);
      o.set_device_id(static_cast<uint64_t>(r.device_id));
      o.set_byte_size(r.byte_size);
    }
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* CudaSharedMemoryRegister(CallbackServerContext* ctx,
                                               const inference::CudaSharedMemoryRegisterRequest* req,
                                               inference::CudaSharedMemoryRegisterResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    return done(ctx, gc::to_grpc_status(server_.shared_memory().register_cuda_region(
                         req->name(), req->raw_handle(), req->device_id(), req->byte_size())));
  }
  ServerUnaryReactor* CudaSharedMemoryUnregister(CallbackServerContext* ctx,
                                                 const inference::CudaSharedMemoryUnregisterRequest* req,
                                                 inference::CudaSharedMemoryUnregisterResponse*) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    return done(ctx, gc::to_grpc_status(server_.shared_memory().unregister_cuda(req->name())));
  }
  // Trace extension: an empty settings map reads; an entry with no values clears that setting.
  ServerUnaryReactor* TraceSetting(CallbackServerContext* ctx, const inference::TraceSettingRequest* req,
                                   inference::TraceSettingResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    const std::string& model = req->model_name();
    if (!model.empty()) {
      bool known = false;
      for (const auto& e : server_.repository_index(false)) known |= e.name == model;
      if (!known) return done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown model '" + model + "'"));
    }
    if (!req->settings().empty()) {
      TraceSettingUpdate update;
      for (const auto& [name, v] : req->settings()) {
        if (v.value().empty())
          update[name] = std::nullopt;
        else
          update[name] = std::vector<std::string>(v.value().begin(), v.value().end());
      }
      ServerStatus st = Tracer::get().update(model, update);
      if (!st.ok()) return done(ctx, gc::to_grpc_status(st));
      log_json("info", "trace settings updated", {{"model", model}, {"protocol", "grpc"}});
    }
    for (const auto& [name, values] : Tracer::get().settings(model)) {
      auto& out = (*resp->mutable_settings())[name];
      for (const auto& v : values) out.add_value(v);
    }
    return done(ctx, grpc::Status::OK);
  }
  // Logging extension: bool_param for log_info/log_warning/log_error, uint32_param for log_verbose_level,
  // string_param for log_format; an empty map reads.
  ServerUnaryReactor* LogSettings(CallbackServerContext* ctx, const inference::LogSettingsRequest* req,
                                  inference::LogSettingsResponse* resp) override {
    KILN_GRPC_REFUSE_WHEN_DRAINING(ctx);
    std::map<std::string, ParamValue> update;
    for (const auto& [name, v] : req->settings()) {
      switch (v.parameter_choice_case()) {
        case inference::LogSettingsRequest::SettingValue::kBoolParam:
          update[name] = v.bool_param();
          break;
        case inference::LogSettingsRequest::SettingValue::kUint32Param:
          update[name] = static_cast<int64_t>(v.uint32_param());
          break;
        case inference::LogSettingsRequest::SettingValue::kStringParam:
          update[name] = v.string_param();
          break;
        default:
          return done(ctx,
                      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "log setting '" + name + "' has no value"));
      }
    }
    if (!update.empty()) {
      ServerStatus st = update_log_settings(update);
      if (!st.ok()) return done(ctx, gc::to_grpc_status(st));
    }
    const kiln::server::LogSettings s = log_settings();
    auto& out = *resp->mutable_settings();
    out["log_file"].set_string_param("");
    out["log_info"].set_bool_param(s.info);
    out["log_warning"].set_bool_param(s.warning);
    out["log_error"].set_bool_param(s.error);
    out["log_verbose_level"].set_uint32_param(s.verbose_level);
    out["log_format"].set_string_param(s.format);
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelInfer(CallbackServerContext*, const grpc::ByteBuffer* req, grpc::ByteBuffer* resp) override {
    return new InferReactor(server_, inflight_, req, resp);
  }
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      CallbackServerContext*) override {
    return new StreamReactor(server_, inflight_);
  }

 private:
  static ServerUnaryReactor* done(CallbackServerContext* ctx, const grpc::Status& status) {
    ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(status);
    return r;
  }
  static grpc::Status from_status(const Status& status) {
    ServerCode code = ServerCode::kInternal;
    switch (status.code()) {
      case StatusCode::kNotFound:
        code = ServerCode::kNotFound;
        break;
      case StatusCode::kInvalidArgument:
      case StatusCode::kOutOfRange:
        code = ServerCode::kInvalidArgument;
        break;
      case StatusCode::kFailedPrecondition:
        code = ServerCode::kUnavailable;
        break;
      default:
        break;
    }
    return grpc::Status(gc::grpc_code(code), status.message());
  }
  // Queues `fn` on the model-control queue; the call is answered when it ran (counted in flight until then).
  template <typename Fn>
  ServerUnaryReactor* run_control(CallbackServerContext* ctx, Fn fn) {
    ServerUnaryReactor* r = ctx->DefaultReactor();
    inflight_.enter();
    Inflight* inflight = &inflight_;
    ServerStatus queued = server_.submit_control([r, inflight, fn = std::move(fn)]() mutable {
      grpc::Status status = gc::to_grpc_status(fn());
      r->Finish(status);
      inflight->leave();
    });
    if (!queued.ok()) {
      r->Finish(gc::to_grpc_status(queued));
      inflight_.leave();
    }
    return r;
  }

  InferenceServer& server_;
  Inflight inflight_;
};

#undef KILN_GRPC_REFUSE_WHEN_DRAINING

// Answers every method the service does not define UNIMPLEMENTED with a message naming it (grpc's own answer
// has an empty message).
class UnknownMethodReactor : public grpc::ServerGenericBidiReactor {
 public:
  explicit UnknownMethodReactor(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "unknown rpc '" + method + "': kiln serve implements inference.GRPCInferenceService (see "
                                                   "docs/grpc.md)"));
  }
  void OnDone() override { delete this; }
};

class UnknownMethods final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new UnknownMethodReactor(ctx->method());
  }
};

class GrpcFrontendImpl final : public GrpcFrontend {
 public:
  GrpcFrontendImpl(std::unique_ptr<Service> service, std::unique_ptr<UnknownMethods> unknown,
                   std::unique_ptr<grpc::Server> server, int port, int max_connections)
      : service_(std::move(service)),
        unknown_(std::move(unknown)),
        server_(std::move(server)),
        cap_(std::make_unique<GrpcConnectionCap>(port, max_connections)),
        port_(port) {}
  ~GrpcFrontendImpl() override { shutdown(); }

  int port() const override { return port_; }
  void begin_drain() override { service_->inflight().drain(); }
  bool wait_idle(std::chrono::steady_clock::time_point deadline) override {
    return service_->inflight().wait_idle(deadline);
  }
  void shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!server_) return;
    cap_.reset();
    begin_drain();
    // Calls still running get 1 s (after a drain, nothing is left but idle streams); then they are cancelled.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    server_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<UnknownMethods> unknown_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcConnectionCap> cap_;
  int port_;
};

// Idle connections hold a file descriptor each: raise the soft RLIMIT_NOFILE to the hard limit so that a few
// thousand connections do not exhaust it (the usual soft default is 1024).
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rlimit want = rl;
  want.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) return;
  log_json("info", "raised the open-file limit",
           {{"from", std::to_string(rl.rlim_cur)}, {"to", std::to_string(want.rlim_cur)}});
}

}  // namespace

Result<std::unique_ptr<GrpcFrontend>> start_grpc_frontend(InferenceServer& server, const std::string& host, int port,
                                                          size_t max_message_bytes, int max_connections) {
  if (port < 0 || port > 65535) return invalid_argument("gRPC port " + std::to_string(port) + " is out of range");
  if (max_connections < 1)
    return invalid_argument("gRPC max connections must be at least 1, got " + std::to_string(max_connections));
  raise_fd_limit();
  const int max_bytes = static_cast<int>(std::min<size_t>(max_message_bytes ? max_message_bytes : INT_MAX, INT_MAX));
  auto service = std::make_unique<Service>(server);
  auto unknown = std::make_unique<UnknownMethods>();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  const std::string address = (host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host) +
                              ":" + std::to_string(port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  // Connection hygiene (docs/grpc.md "Limits"): streams per connection, a connection that never completes its
  // HTTP/2 handshake, connections idle for long, and keepalive pings that find dead peers.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kGrpcMaxConcurrentStreams);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, kGrpcHandshakeTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kGrpcMaxConnectionIdleMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  grpc::ResourceQuota quota("kiln-grpc");
  quota.SetMaxThreads(kGrpcMaxThreads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(service.get());
  builder.RegisterCallbackGenericService(unknown.get());
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || bound_port == 0)
    return failed_precondition("cannot start the gRPC server on " + address + " (address in use or not valid)");
  return std::unique_ptr<GrpcFrontend>(std::make_unique<GrpcFrontendImpl>(std::move(service), std::move(unknown),
                                                                          std::move(grpc_server), bound_port,
                                                                          max_connections));
}

Result<std::unique_ptr<Frontend>> start_grpc_frontend(InferenceServer* server, const std::string& host, int port) {
  auto started = start_grpc_frontend(*server, host, port, kDefaultGrpcMaxMessageBytes);
  if (!started.ok()) return started.status();
  return std::unique_ptr<Frontend>(std::move(started).value());
}

}  // namespace kiln::server
