// ControlQueue (bounded model-control FIFO) and the InferenceServer entry points that use it.
#include "server/control_queue.h"

#include <algorithm>
#include <exception>

#include "server/server_impl.h"
#include "server/thread_name.h"

namespace kiln::server {

ControlQueue::ControlQueue(size_t capacity, int threads, std::string what)
    : capacity_(capacity), threads_(std::max(1, threads)), what_(std::move(what)) {}

ControlQueue::~ControlQueue() { stop(); }

ServerStatus ControlQueue::submit(std::function<void()> work) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  if (items_.size() >= capacity_)
    return server_error(ServerCode::kUnavailable,
                        what_ + " is full (" + std::to_string(capacity_) + " requests pending)");
  if (!started_) {
    // std::thread throws std::system_error when the process is out of threads: report it, never abort (work already
    // accepted still runs on the workers that did start).
    try {
      while (static_cast<int>(workers_.size()) < threads_) workers_.emplace_back([this] {
        name_this_thread("kiln-control");
        run();
      });
    } catch (const std::exception& e) {
      if (workers_.empty())
        return server_error(ServerCode::kUnavailable, "cannot start the " + what_ + " thread: " + e.what());
    }
    started_ = true;
  }
  items_.push_back(std::move(work));
  cv_.notify_one();
  return {};
}

size_t ControlQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

void ControlQueue::run() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !items_.empty(); });
      if (items_.empty()) return;  // stopping and drained
      work = std::move(items_.front());
      items_.pop_front();
    }
    try {
      work();
    } catch (const std::exception& e) {
      log_json("error", what_ + " work threw", {{"error", e.what()}});
    } catch (...) {
      log_json("error", what_ + " work threw");
    }
  }
}

void ControlQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable() && w.get_id() != std::this_thread::get_id()) w.join();
}

// ---- InferenceServer entry points ------------------------------------------------------------------------------

ServerStatus InferenceServer::submit_control(std::function<void()> work) {
  return impl_->control().submit(std::move(work));
}

ServerStatus InferenceServer::load_model(const std::string& name, const Parameters& params) {
  return impl_->load(name, params);
}

}  // namespace kiln::server
