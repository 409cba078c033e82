// ResponsePool: a fixed set of threads taking response jobs from one queue.
#include "server/response_pool.h"
#include "server/thread_name.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>

namespace kiln::server {

int ResponsePool::default_threads() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return cores < 8 ? 0 : std::min(8, cores / 4);
}

ResponsePool& ResponsePool::get() {
  static ResponsePool* pool = [] {
    int n = default_threads();
    if (const char* env = std::getenv("KILN_SERVE_RESPONSE_THREADS")) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0 && v <= 64) n = static_cast<int>(v);
    }
    return new ResponsePool(n);
  }();
  return *pool;
}

ResponsePool::ResponsePool(int threads) {
  for (int i = 0; i < threads; ++i) {
    try {
      threads_.emplace_back([this] {
        name_this_thread("kiln-respond");
        loop();
      });
    } catch (const std::system_error&) {
      break;  // fewer threads (none: submit() runs jobs inline)
    }
  }
  for (auto& t : threads_) t.detach();  // never joined: the pool lives until the process exits
}

void ResponsePool::submit(std::function<void()> job) {
  if (threads_.empty()) return job();
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ResponsePool::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !jobs_.empty(); });
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace kiln::server
