// Trace and log-settings extensions of `kiln serve` (Triton's names): the settings both front ends read and
// update, and the tracer that writes sampled requests' timestamps to the --trace-file.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

// ---- trace ------------------------------------------------------------------------------------------------
// Settings as Triton's trace extension carries them: name -> list of strings (one entry except trace_level).
// Names: trace_level (OFF | TIMESTAMPS | TENSORS, a list: TENSORS adds the request's input and output tensors to
// the record), trace_rate (every N-th request), trace_count (traces
// left to collect, -1 = unlimited), log_frequency (records buffered before a write, 0 = write each at once),
// trace_file (read-only: set by --trace-file), trace_mode ("triton" only).
using TraceSettingMap = std::map<std::string, std::vector<std::string>>;
// An update: a setting with no value (nullopt; JSON null, an empty gRPC value list) clears it, so that a model's
// setting follows the global one again (a cleared global setting returns to its default).
using TraceSettingUpdate = std::map<std::string, std::optional<std::vector<std::string>>>;

// A completed request's timestamps (steady-clock ns, scheduler.h now_ns()).
struct TraceTimes {
  uint64_t request_start = 0, queue_start = 0, compute_start = 0, compute_input_end = 0, compute_output_start = 0,
           compute_end = 0, request_end = 0;
};

// Process-wide (one server per process). Thread-safe.
class Tracer {
 public:
  static Tracer& get();

  // --trace-file PATH at startup (the only way to set it). Records are appended to it.
  void set_file(const std::string& path);

  // Effective settings for `model` ("" = the global ones).
  TraceSettingMap settings(const std::string& model) const;
  // Validates every entry first, then applies all of them, or none. kInvalidArgument naming the setting:
  // unknown name, bad value, trace_file ("trace_file can only be set with --trace-file"), trace_mode other than
  // triton, TIMESTAMPS without a --trace-file.
  ServerStatus update(const std::string& model, const TraceSettingUpdate& update);

  // True when any setting enables tracing: a relaxed load, the only cost on the request path when off.
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Called once per successfully answered request: samples it by the model's effective trace_rate and
  // trace_count and, when taken, queues one JSON record (written at once or every log_frequency records).
  // inputs/outputs (optional) are the request's tensors, recorded when the level includes TENSORS.
  void record(const std::string& model, const std::string& version, const std::string& request_id,
              const TraceTimes& times, const std::vector<InferTensor>* inputs = nullptr,
              const std::vector<InferTensor>* outputs = nullptr);
  // Writes buffered records (at shutdown and whenever log_frequency is reached).
  void flush();

 private:
  struct Level {  // one scope: global (every field set) or a model (unset = follow the global)
    std::optional<std::vector<std::string>> level;
    std::optional<int64_t> rate, count, log_frequency;
    std::optional<std::string> mode;
    uint64_t seen = 0;  // requests sampled against this scope's rate
  };
  Level resolve_locked(const std::string& model) const;
  void refresh_enabled_locked();
  void write_locked();

  mutable std::mutex mu_;
  std::string file_;
  Level global_;
  std::map<std::string, Level> models_;
  std::vector<std::string> pending_;  // records not yet written
  uint64_t next_id_ = 1;
  std::atomic<bool> enabled_{false};
};

// ---- log settings (Triton's logging extension) -------------------------------------------------------------
// log_info / log_warning / log_error (bool): whether log_json prints that level; log_verbose_level (uint):
// >= 1 prints one line per request; log_format: "default" (ms-precision timestamps) | "ISO8601" (whole seconds);
// log_file: always "" (stderr), read-only.
struct LogSettings {
  bool info = true, warning = true, error = true;
  uint32_t verbose_level = 0;
  std::string format = "default";
};
LogSettings log_settings();
void set_log_settings(const LogSettings& settings);
// Fast check for per-request logging (relaxed atomic load).
int log_verbose_level();
// Applies named updates (values as received: bool, int64 or string; HTTP JSON and gRPC are both mapped onto
// ParamValue). All-or-nothing; kInvalidArgument naming the setting for an unknown name, a wrong type, a negative
// level, an unknown format, or log_file (kiln serve always logs to stderr).
ServerStatus update_log_settings(const std::map<std::string, ParamValue>& update);

}  // namespace kiln::server
