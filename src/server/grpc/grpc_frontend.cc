// The gRPC service: inference.GRPCInferenceService on grpc++'s callback API, delegating to InferenceServer.
#include "server/grpc/grpc_frontend.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/grpc/grpc_convert.h"
#include "server/grpc/kserve_v2.grpc.pb.h"
#include "server/shm_registry.h"

namespace kiln::server {
namespace {

namespace gc = grpc_convert;
using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

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
  InferReactor(InferenceServer& server, const grpc::ByteBuffer* request, grpc::ByteBuffer* response)
      : shared_(std::make_shared<Shared>()) {
    inference::ModelInferRequest message;
    grpc::ByteBuffer buffer(*request);  // shares the slices; Deserialize consumes its argument
    if (!grpc::SerializationTraits<inference::ModelInferRequest>::Deserialize(&buffer, &message).ok()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed ModelInferRequest (protobuf parse error)"));
      return;
    }
    InferRequest req;
    ServerStatus st = gc::request_from_proto(message, &req);
    if (!st.ok()) {
      Finish(gc::to_grpc_status(st));
      return;
    }
    std::shared_ptr<Shared> shared = shared_;
    std::shared_ptr<InferHandle> handle =
        server.infer(std::move(req), [this, response](ServerStatus status, InferResponse result) {
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
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<Shared> shared_;
};

// One ModelStreamInfer stream: every request read is queued on the InferenceServer at once; responses are
// written in completion order (each carries the request id), one write in flight at a time. A failed request
// yields a response with error_message and the stream goes on. The stream finishes once the client has
// half-closed and every request has been answered; a cancelled stream cancels its queued requests.
class StreamReactor
    : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  explicit StreamReactor(InferenceServer& server) : server_(server) { StartRead(&request_); }

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
    ServerStatus st = gc::request_from_proto(request_, &req);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++pending_;
    }
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
          server_.infer(std::move(req), [this, seq, id = request_.id()](ServerStatus status, InferResponse result) {
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
  void OnDone() override { delete this; }

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

class Service final : public ServiceBase {
 public:
  explicit Service(InferenceServer& server) : server_(server) {}
  ~Service() override { join_workers(); }

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                 inference::ServerLiveResponse* resp) override {
    resp->set_live(server_.live());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                  inference::ServerReadyResponse* resp) override {
    resp->set_ready(server_.ready());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                 inference::ModelReadyResponse* resp) override {
    resp->set_ready(server_.model_ready(req->name(), req->version()));
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                     inference::ServerMetadataResponse* resp) override {
    const auto md = server_.metadata();
    resp->set_name(md.name);
    resp->set_version(md.version);
    for (const auto& e : md.extensions) resp->add_extensions(e);
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                    inference::ModelMetadataResponse* resp) override {
    auto md = server_.model_metadata(req->name(), req->version());
    if (!md.ok()) return done(ctx, from_status(md.status()));
    gc::metadata_to_proto(*md, resp);
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                  inference::ModelConfigResponse* resp) override {
    auto config = server_.model_config(req->name(), req->version());
    if (!config.ok()) return done(ctx, from_status(config.status()));
    if (!gc::config_to_proto(*config, resp->mutable_config()))
      return done(ctx, grpc::Status(grpc::StatusCode::INTERNAL, "model configuration could not be encoded"));
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
                                      inference::ModelStatisticsResponse* resp) override {
    auto stats = server_.statistics(req->name(), req->version());
    if (!stats.ok()) return done(ctx, from_status(stats.status()));
    for (const ModelStats& s : *stats) gc::stats_to_proto(s, resp->add_model_stats());
    return done(ctx, grpc::Status::OK);
  }
  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
                                      inference::RepositoryIndexResponse* resp) override {
    for (const RepositoryEntry& e : server_.repository_index(req->ready())) {
      auto* m = resp->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return done(ctx, grpc::Status::OK);
  }
  // Load and unload block (a load may compile an engine): they run on a worker thread so that grpc's
  // callback threads stay free for other calls.
  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
                                          inference::RepositoryModelLoadResponse*) override {
    return run_blocking(ctx, [this, name = req->model_name()] { return server_.load_model(name); });
  }
  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inference::RepositoryModelUnloadRequest* req,
                                            inference::RepositoryModelUnloadResponse*) override {
    return run_blocking(ctx, [this, name = req->model_name()] { return server_.unload_model(name); });
  }
  ServerUnaryReactor* SystemSharedMemoryStatus(CallbackServerContext* ctx,
                                               const inference::SystemSharedMemoryStatusRequest* req,
                                               inference::SystemSharedMemoryStatusResponse* resp) override {
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
    return done(ctx, gc::to_grpc_status(server_.shared_memory().register_region(req->name(), req->key(), req->offset(),
                                                                                req->byte_size())));
  }
  ServerUnaryReactor* SystemSharedMemoryUnregister(CallbackServerContext* ctx,
                                                   const inference::SystemSharedMemoryUnregisterRequest* req,
                                                   inference::SystemSharedMemoryUnregisterResponse*) override {
    return done(ctx, gc::to_grpc_status(server_.shared_memory().unregister(req->name())));
  }
  ServerUnaryReactor* ModelInfer(CallbackServerContext*, const grpc::ByteBuffer* req, grpc::ByteBuffer* resp) override {
    return new InferReactor(server_, req, resp);
  }
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      CallbackServerContext*) override {
    return new StreamReactor(server_);
  }

  void join_workers() {
    std::vector<Worker> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (auto& w : workers) w.thread.join();
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
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  template <typename Fn>
  ServerUnaryReactor* run_blocking(CallbackServerContext* ctx, Fn fn) {
    ServerUnaryReactor* r = ctx->DefaultReactor();
    std::lock_guard<std::mutex> lock(mu_);
    // Join the workers that have finished so that repeated loads do not accumulate threads.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    auto done_flag = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([r, done_flag, fn = std::move(fn)] {
                          grpc::Status status = gc::to_grpc_status(fn());
                          done_flag->store(true);
                          r->Finish(status);
                        }),
                        done_flag});
    return r;
  }

  InferenceServer& server_;
  std::mutex mu_;
  std::vector<Worker> workers_;  // load/unload threads: reaped when done, joined at shutdown
};

class GrpcFrontendImpl final : public GrpcFrontend {
 public:
  GrpcFrontendImpl(std::unique_ptr<Service> service, std::unique_ptr<grpc::Server> server, int port)
      : service_(std::move(service)), server_(std::move(server)), port_(port) {}
  ~GrpcFrontendImpl() override { shutdown(); }

  int port() const override { return port_; }
  void shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!server_) return;
    // In-flight calls get 5 s to finish (inference requests complete as the InferenceServer drains).
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    service_->join_workers();
    server_->Wait();
    server_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
};

}  // namespace

Result<std::unique_ptr<GrpcFrontend>> start_grpc_frontend(InferenceServer& server, const std::string& host, int port,
                                                          size_t max_message_bytes) {
  if (port < 0 || port > 65535) return invalid_argument("gRPC port " + std::to_string(port) + " is out of range");
  const int max_bytes = static_cast<int>(std::min<size_t>(max_message_bytes ? max_message_bytes : INT_MAX, INT_MAX));
  auto service = std::make_unique<Service>(server);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  const std::string address = (host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host) +
                              ":" + std::to_string(port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || bound_port == 0)
    return failed_precondition("cannot start the gRPC server on " + address + " (address in use or not valid)");
  return std::unique_ptr<GrpcFrontend>(
      std::make_unique<GrpcFrontendImpl>(std::move(service), std::move(grpc_server), bound_port));
}

Result<std::unique_ptr<Frontend>> start_grpc_frontend(InferenceServer* server, const std::string& host, int port) {
  auto started = start_grpc_frontend(*server, host, port, kDefaultGrpcMaxMessageBytes);
  if (!started.ok()) return started.status();
  return std::unique_ptr<Frontend>(std::move(started).value());
}

}  // namespace kiln::server
