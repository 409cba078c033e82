// ControlQueue: a bounded FIFO run by a fixed set of long-lived worker threads; model-control work (load/unload) runs
// on one, and the HTTP front end parses large request bodies on another (http_frontend.cc).
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

// Contract:
// - submit() never blocks on the work and never creates a thread per request. It queues `work` and returns kOk,
//   or returns kUnavailable without queueing when the queue holds `capacity` pending items ("<what> is full (64
//   requests pending)") or stop() has begun ("the server is shutting down").
// - Every accepted `work` runs exactly once, started in submission order, on one of the `threads` workers (started
//   by the first submit()). Work reports its result
//   through whatever callback it captured; the queue itself never calls back.
// - stop() (server shutdown) refuses new work, then lets the worker run every item still pending and joins it.
//   For model control, the server marks itself as shutting down before stop(), so load/unload called from pending work return
//   kUnavailable "the server is shutting down" at once: pending requests are answered, never dropped.
// - Work must not call submit()/stop() on its own queue and must not wait for later items.
class ControlQueue {
 public:
  explicit ControlQueue(size_t capacity = 64, int threads = 1, std::string what = "model control queue");
  ~ControlQueue();  // stop()
  ControlQueue(const ControlQueue&) = delete;
  ControlQueue& operator=(const ControlQueue&) = delete;

  ServerStatus submit(std::function<void()> work);
  void stop();  // idempotent
  size_t capacity() const { return capacity_; }
  size_t pending() const;  // queued, not yet started

 private:
  void run();

  const size_t capacity_;
  const int threads_;
  const std::string what_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> items_;
  bool stopping_ = false;
  bool started_ = false;
  std::vector<std::thread> workers_;  // started by the first submit()
};

}  // namespace kiln::server
