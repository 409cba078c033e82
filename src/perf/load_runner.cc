// Load generation (one thread per connection) and windowed measurement with perf_analyzer's stability check.
#include "perf/load_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

namespace kiln::perf {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Sample {
  int64_t latency_ns;
  int64_t send_ns;
  int64_t recv_ns;
};

// Per-thread record of completed requests; the control thread swaps the vector out at window boundaries.
struct WorkerLog {
  std::mutex mu;
  std::vector<Sample> samples;
  uint64_t errors = 0;
  uint64_t delayed = 0;
  std::string first_error;
};

// Request-rate schedule shared by the sending threads: the next send time, constant or Poisson spaced.
class Schedule {
 public:
  Schedule(double rate, Distribution dist, int64_t start_ns) : dist_(dist), mean_ns_(1e9 / rate), next_ns_(start_ns) {}
  int64_t next() {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t t = next_ns_;
    const double gap = dist_ == Distribution::kPoisson ? exp_(rng_) * mean_ns_ : mean_ns_;
    carry_ += gap;
    const int64_t whole = static_cast<int64_t>(carry_);
    carry_ -= static_cast<double>(whole);
    next_ns_ += whole;
    return t;
  }

 private:
  std::mutex mu_;
  Distribution dist_;
  double mean_ns_;
  int64_t next_ns_;
  double carry_ = 0;
  std::mt19937_64 rng_{42};
  std::exponential_distribution<double> exp_{1.0};
};

struct Window {
  double seconds = 0;
  std::vector<Sample> samples;
  uint64_t errors = 0, delayed = 0;
  std::string first_error;
  bool server_ok = false;
  ServerStats server;
};

double percentile_us(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  idx = std::min(sorted.size() - 1, idx == 0 ? 0 : idx - 1);
  return static_cast<double>(sorted[idx]) / 1000.0;
}

// The figure the stability rule compares (and the final line reports): average or --percentile latency.
double window_latency(const Window& w, int percentile) {
  if (w.samples.empty()) return 0;
  if (percentile > 0) {
    std::vector<int64_t> l;
    l.reserve(w.samples.size());
    for (const Sample& s : w.samples) l.push_back(s.latency_ns);
    std::sort(l.begin(), l.end());
    return percentile_us(l, percentile);
  }
  double sum = 0;
  for (const Sample& s : w.samples) sum += static_cast<double>(s.latency_ns);
  return sum / static_cast<double>(w.samples.size()) / 1000.0;
}

bool within(const std::vector<double>& v, double pct) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  if (mean <= 0) return false;
  for (double x : v)
    if (std::fabs(x - mean) / mean > pct / 100.0) return false;
  return true;
}

StepResult merge(const std::vector<Window>& windows, const PerfOptions& options, LoadMode mode, double load) {
  StepResult r;
  r.mode = mode;
  r.load = load;
  r.windows = static_cast<int>(windows.size());
  std::vector<int64_t> lat;
  double send = 0, recv = 0;
  r.server_ok = true;
  for (const Window& w : windows) {
    r.seconds += w.seconds;
    r.delayed += w.delayed;
    for (const Sample& s : w.samples) {
      lat.push_back(s.latency_ns);
      send += static_cast<double>(s.send_ns);
      recv += static_cast<double>(s.recv_ns);
    }
    r.server_ok = r.server_ok && w.server_ok;
    ServerStats& a = r.server;
    const ServerStats& b = w.server;
    a.inference_count += b.inference_count, a.execution_count += b.execution_count;
    a.success_count += b.success_count, a.success_ns += b.success_ns;
    a.queue_count += b.queue_count, a.queue_ns += b.queue_ns;
    a.compute_input_count += b.compute_input_count, a.compute_input_ns += b.compute_input_ns;
    a.compute_infer_count += b.compute_infer_count, a.compute_infer_ns += b.compute_infer_ns;
    a.compute_output_count += b.compute_output_count, a.compute_output_ns += b.compute_output_ns;
  }
  r.requests = lat.size();
  if (r.seconds > 0)
    r.throughput = static_cast<double>(r.requests) * static_cast<double>(options.batch_size) / r.seconds;
  if (lat.empty()) return r;
  std::sort(lat.begin(), lat.end());
  double sum = 0, sq = 0;
  for (int64_t l : lat) sum += static_cast<double>(l) / 1000.0;
  r.avg_us = sum / static_cast<double>(lat.size());
  for (int64_t l : lat) sq += std::pow(static_cast<double>(l) / 1000.0 - r.avg_us, 2);
  r.stddev_us = std::sqrt(sq / static_cast<double>(lat.size()));
  r.p50_us = percentile_us(lat, 50);
  r.p90_us = percentile_us(lat, 90);
  r.p95_us = percentile_us(lat, 95);
  r.p99_us = percentile_us(lat, 99);
  r.pct_us = options.percentile > 0 ? percentile_us(lat, options.percentile) : r.avg_us;
  r.send_us = send / static_cast<double>(lat.size()) / 1000.0;
  r.recv_us = recv / static_cast<double>(lat.size()) / 1000.0;
  return r;
}

}  // namespace

Result<StepResult> run_step(Backend& backend, const ModelInfo& model, const PerfOptions& options, LoadMode mode,
                            double load, size_t data_sets, bool verbose) {
  const int threads = mode == LoadMode::kConcurrency ? static_cast<int>(load) : options.max_threads;
  if (threads < 1) return invalid_argument("concurrency must be at least 1");
  std::vector<std::unique_ptr<WorkerLog>> logs;
  for (int i = 0; i < threads; ++i) logs.push_back(std::make_unique<WorkerLog>());
  auto record = [](WorkerLog& log, int64_t latency_ns, const CallTiming& timing, const Status& st, bool late) {
    std::lock_guard<std::mutex> lock(log.mu);
    if (!st.ok()) {
      if (log.errors++ == 0) log.first_error = st.message();
      return;
    }
    log.delayed += late ? 1 : 0;
    log.samples.push_back({latency_ns, timing.send_ns, timing.recv_ns});
  };

  // Closed loop: the client's asynchronous mode when it has one (gRPC), else one thread per request in flight.
  std::unique_ptr<AsyncLoad> async;
  if (mode == LoadMode::kConcurrency) {
    auto started = backend.start_async_load(
        threads, data_sets, [&](int slot, int64_t latency_ns, const CallTiming& timing, const Status& st) {
          record(*logs[static_cast<size_t>(slot)], latency_ns, timing, st, false);
        });
    if (started.ok()) {
      async = std::move(started).value();
    } else if (started.status().code() != StatusCode::kUnimplemented) {
      return started.status();
    }
  }
  std::vector<std::unique_ptr<InferWorker>> workers;
  for (int i = 0; !async && i < threads; ++i) {
    KILN_ASSIGN_OR_RETURN(auto w, backend.make_worker());
    workers.push_back(std::move(w));
  }
  std::atomic<bool> stop{false};
  std::unique_ptr<Schedule> schedule;
  if (mode == LoadMode::kRequestRate) schedule = std::make_unique<Schedule>(load, options.distribution, now_ns());

  std::vector<std::thread> pool;
  for (int i = 0; !async && i < threads; ++i) {
    pool.emplace_back([&, i] {
      InferWorker& worker = *workers[i];
      WorkerLog& log = *logs[i];
      size_t index = static_cast<size_t>(i) % std::max<size_t>(1, data_sets);
      while (!stop.load(std::memory_order_relaxed)) {
        bool late = false;
        if (schedule) {
          const int64_t at = schedule->next();
          int64_t now = now_ns();
          // Sleep in slices so that a stop request is seen promptly even at low rates.
          while (at > now && !stop.load(std::memory_order_relaxed)) {
            std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(at - now, 50'000'000)));
            now = now_ns();
          }
          if (stop.load(std::memory_order_relaxed)) break;
          late = now - at > 1'000'000;
        }
        CallTiming timing;
        const int64_t t0 = now_ns();
        Status st = worker.infer(index++, &timing);
        const int64_t t1 = now_ns();
        record(log, t1 - t0, timing, st, late);
        // Back off a little after a failure so that a dead server does not turn into a busy loop.
        if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }

  auto collect = [&](Window* w) {
    for (auto& log : logs) {
      std::lock_guard<std::mutex> lock(log->mu);
      if (w) {
        w->samples.insert(w->samples.end(), log->samples.begin(), log->samples.end());
        w->errors += log->errors;
        w->delayed += log->delayed;
        if (w->first_error.empty()) w->first_error = log->first_error;
      }
      log->samples.clear();
      log->errors = 0;
      log->delayed = 0;
    }
  };
  auto finish = [&] {
    stop = true;
    for (auto& t : pool) t.join();
    if (async) async->stop();
  };

  std::vector<Window> windows;
  Status failure;
  bool stable = false;
  for (int trial = 0; trial < std::max(1, options.max_trials); ++trial) {
    Window w;
    auto before = backend.statistics(model.name, model.version);
    collect(nullptr);  // what completed before the window starts is not measured
    const int64_t t0 = now_ns();
    std::this_thread::sleep_for(std::chrono::milliseconds(options.measurement_ms));
    collect(&w);
    const int64_t t1 = now_ns();
    auto after = backend.statistics(model.name, model.version);
    w.seconds = static_cast<double>(t1 - t0) / 1e9;
    if (before.ok() && after.ok()) {
      w.server_ok = true;
      w.server = after->minus(*before);
    }
    if (w.errors > 0) {
      failure = Status(StatusCode::kFailedPrecondition,
                       std::to_string(w.errors) + " request(s) failed; first error: " + w.first_error);
      break;
    }
    if (verbose) {
      std::printf("  Pass [%d] throughput: %.1f infer/sec. Avg latency: %.0f usec\n", trial + 1,
                  static_cast<double>(w.samples.size()) * static_cast<double>(options.batch_size) / w.seconds,
                  window_latency(w, 0));
      std::fflush(stdout);
    }
    windows.push_back(std::move(w));
    if (windows.size() >= 3) {
      std::vector<double> tput, lat;
      for (size_t k = windows.size() - 3; k < windows.size(); ++k) {
        tput.push_back(static_cast<double>(windows[k].samples.size()) / windows[k].seconds);
        lat.push_back(window_latency(windows[k], options.percentile));
      }
      if (within(tput, options.stability_percent) && within(lat, options.stability_percent)) {
        stable = true;
        break;
      }
    }
  }
  finish();
  if (!failure.ok()) return failure;
  std::vector<Window> last(windows.size() > 3 ? windows.end() - 3 : windows.begin(), windows.end());
  StepResult r = merge(last, options, mode, load);
  r.stable = stable;
  if (r.requests == 0)
    return failed_precondition("no request completed in " + std::to_string(options.measurement_ms) +
                               " ms: raise -p/--measurement-interval");
  return r;
}

}  // namespace kiln::perf
