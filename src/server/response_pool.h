// ResponsePool: process-wide threads that answer finished requests, so that an instance's worker goes back to its
// next batch instead of answering up to max_batch_size requests one after another.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::server {

class ResponsePool {
 public:
  // The process's pool (created on first use, never destroyed: jobs may still run while static objects go away).
  // Its size is $KILN_SERVE_RESPONSE_THREADS when set (0 = none), else default_threads().
  static ResponsePool& get();
  // hardware_concurrency() / 4, at most 8; 0 below 8 cores, where a handoff costs more than it frees (the cores
  // are busy anyway).
  static int default_threads();

  ResponsePool(const ResponsePool&) = delete;
  ResponsePool& operator=(const ResponsePool&) = delete;

  int threads() const { return static_cast<int>(threads_.size()); }
  // Runs `job` on a pool thread; with no threads, runs it now on the caller's.
  void submit(std::function<void()> job);

 private:
  explicit ResponsePool(int threads);  // only get(): the threads are detached and use the pool forever
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
};

// Counts a scheduler's jobs in a ResponsePool so that it can wait for them before it goes away.
class JobTracker {
 public:
  void started() {
    std::lock_guard<std::mutex> lock(mu_);
    ++running_;
  }
  void finished() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--running_ == 0) cv_.notify_all();
  }
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t running_ = 0;
};

}  // namespace kiln::server
