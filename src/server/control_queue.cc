// ControlQueue (bounded model-control FIFO) and the InferenceServer entry points that use it.
#include "server/control_queue.h"

#include <exception>

#include "server/server_impl.h"

namespace kiln::server {

ControlQueue::ControlQueue(size_t capacity) : capacity_(capacity) {}

ControlQueue::~ControlQueue() { stop(); }

ServerStatus ControlQueue::submit(std::function<void()> work) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return server_error(ServerCode::kUnavailable, "the server is shutting down");
  if (items_.size() >= capacity_)
    return server_error(ServerCode::kUnavailable,
                        "model control queue is full (" + std::to_string(capacity_) + " requests pending)");
  if (!started_) {
    // std::thread throws std::system_error when the process is out of threads: report it, never abort.
    try {
      worker_ = std::thread([this] { run(); });
    } catch (const std::exception& e) {
      return server_error(ServerCode::kUnavailable, std::string("cannot start the model control thread: ") + e.what());
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
      log_json("error", "model control work threw", {{"error", e.what()}});
    } catch (...) {
      log_json("error", "model control work threw");
    }
  }
}

void ControlQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

// ---- InferenceServer entry points ------------------------------------------------------------------------------

ServerStatus InferenceServer::submit_control(std::function<void()> work) {
  return impl_->control().submit(std::move(work));
}

ServerStatus InferenceServer::load_model(const std::string& name, const Parameters& params) {
  return impl_->load(name, params);
}

}  // namespace kiln::server
