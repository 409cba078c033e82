// ServerImpl: the model map behind InferenceServer (loading, request validation, statistics, metrics).
#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/engine.h"
#include "server/control_queue.h"
#include "server/inference_server.h"
#include "server/scheduler.h"

namespace kiln::server {

// One loaded (READY) model version.
struct LoadedVersion {
  int64_t version = 0;
  std::string version_str;
  ModelConfig config;  // completed from the engine
  std::shared_ptr<const Engine> engine;
  std::shared_ptr<StatsCollector> stats;
  std::unique_ptr<Scheduler> scheduler;
};

struct ModelState {
  std::string state = "UNAVAILABLE";  // READY, UNAVAILABLE, LOADING, UNLOADING
  std::string reason;
  std::string signature;                                       // of the files on disk at the last load (poll mode)
  std::map<int64_t, std::shared_ptr<LoadedVersion>> versions;  // ready versions
};

class ServerImpl {
 public:
  explicit ServerImpl(ServerOptions options) : options_(std::move(options)) {}
  ~ServerImpl();

  Status start();  // initial scan and loads, poll thread
  void shutdown();

  // Repository (repository.cc).
  ServerStatus load(const std::string& name);
  // ---- model control ----
  ServerStatus load(const std::string& name, const Parameters& params);  // Triton load parameters (config override)
  ControlQueue& control() { return control_; }
  // Strict readiness: every model the control mode asked to load is READY (a model explicitly unloaded does not
  // count against it). Always true with strict_readiness off.
  bool models_ready() const;
  ServerStatus unload(const std::string& name);
  std::vector<std::string> scan_model_names() const;  // directory names in the repository
  std::string signature_of(const std::string& name) const;
  void poll_loop();

  // Requests and views (inference_server.cc).
  Result<std::shared_ptr<LoadedVersion>> find(const std::string& name, const std::string& version,
                                              ServerCode* code) const;
  std::shared_ptr<InferHandle> infer(InferRequest request, InferCallback done);
  std::vector<RepositoryEntry> index(bool ready_only) const;
  Result<std::vector<ModelStats>> statistics(const std::string& name, const std::string& version) const;
  std::string prometheus() const;  // metrics.cc
  // ---- failures before a model version is chosen (InferenceServer::count_rejected_request; metrics.cc) ----
  static constexpr const char* kRejectProtocols[] = {"http", "grpc", "other"};
  static constexpr const char* kRejectReasons[] = {
      "MALFORMED",     "PAYLOAD_TOO_LARGE", "UNKNOWN_MODEL", "MODEL_UNAVAILABLE",
      "SHARED_MEMORY", "SHUTTING_DOWN",     "OVERLOADED",    "OTHER"};
  void count_rejected(const char* protocol, const char* reason);
  uint64_t rejected(size_t protocol, size_t reason) const { return rejected_[protocol][reason].load(); }

  const ServerOptions& options() const { return options_; }
  bool shutting_down() const { return shutting_down_.load(); }
  // startup finished and (strict readiness) models_ready(); InferenceServer::ready() is built on it.
  bool started() const { return started_.load() && models_ready(); }

 private:
  Result<std::shared_ptr<LoadedVersion>> load_version(const std::string& name, const ModelConfig& config,
                                                      int64_t version, const std::string& model_dir,
                                                      const std::string& origin);  // origin names the config
  // `override_config` (a parsed "config" load parameter) replaces config.pbtxt for this load; a load with
  // an override that fails leaves the versions that are serving in place.
  ServerStatus load_locked(const std::string& name, const ModelConfig* override_config = nullptr);
  // the StatsCollector of (model, version), reused across reloads so counters are not reset.
  std::shared_ptr<StatsCollector> stats_for(const std::string& name, const std::string& version);
  ServerStatus unload_locked(const std::string& name, bool forget);
  ServerStatus validate(const LoadedVersion& lv, const InferRequest& req, QueuedRequest* q) const;

  ServerOptions options_;
  mutable std::mutex mu_;  // guards models_
  std::map<std::string, ModelState> models_;
  std::mutex load_mu_;  // serializes loads and unloads
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> started_{false};
  std::atomic<uint64_t> next_id_{1};
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  std::thread poll_thread_;
  std::atomic<uint64_t> rejected_[3][8];  // [kRejectProtocols][kRejectReasons]; C++20 zero-initializes them
  std::mutex stats_mu_;  // guards kept_stats_
  std::map<std::string, std::shared_ptr<StatsCollector>> kept_stats_;  // "name\nversion" -> counters
  ControlQueue control_{64};  // declared last: destroyed (stopped) first
};

}  // namespace kiln::server
