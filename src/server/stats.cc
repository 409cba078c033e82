// StatsCollector: per model version counters behind the statistics endpoint and the Prometheus metrics.
#include <chrono>

#include "server/scheduler.h"

namespace kiln::server {

namespace {
uint64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
void add(StatDuration& d, uint64_t ns) {
  d.count += 1;
  d.ns += ns;
}
}  // namespace

StatsCollector::StatsCollector(std::string name, std::string version) {
  stats_.name = std::move(name);
  stats_.version = std::move(version);
  bucket_counts_.assign(batch_buckets().size(), 0);
}

const std::vector<uint64_t>& StatsCollector::batch_buckets() {
  static const std::vector<uint64_t> kBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return kBuckets;
}

void StatsCollector::record_success(uint64_t request_ns, uint64_t queue_ns, uint64_t in_ns, uint64_t infer_ns,
                                    uint64_t out_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  add(stats_.success, request_ns);
  add(stats_.queue, queue_ns);
  add(stats_.compute_input, in_ns);
  add(stats_.compute_infer, infer_ns);
  add(stats_.compute_output, out_ns);
}

void StatsCollector::record_successes(uint64_t requests, uint64_t request_ns_sum, uint64_t queue_ns_sum, uint64_t in_ns,
                                      uint64_t infer_ns, uint64_t out_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto add_n = [requests](StatDuration& d, uint64_t ns) {
    d.count += requests;
    d.ns += ns;
  };
  add_n(stats_.success, request_ns_sum);
  add_n(stats_.queue, queue_ns_sum);
  add_n(stats_.compute_input, in_ns * requests);
  add_n(stats_.compute_infer, infer_ns * requests);
  add_n(stats_.compute_output, out_ns * requests);
}

void StatsCollector::record_failure(const char* reason, uint64_t request_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  add(stats_.fail, request_ns);
  stats_.failures_by_reason[reason ? reason : "OTHER"] += 1;
}

void StatsCollector::record_batch(uint64_t rows, uint64_t in_ns, uint64_t infer_ns, uint64_t out_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.inference_count += rows;
  stats_.execution_count += 1;
  stats_.last_inference_ms = wall_ms();
  BatchStats& b = by_size_[rows];
  b.batch_size = rows;
  add(b.compute_input, in_ns);
  add(b.compute_infer, infer_ns);
  add(b.compute_output, out_ns);
  const auto& buckets = batch_buckets();
  for (size_t i = 0; i < buckets.size(); ++i)
    if (rows <= buckets[i]) {
      bucket_counts_[i] += 1;
      break;
    }
  batch_sum_ += rows;
  batch_count_ += 1;
}

ModelStats StatsCollector::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStats s = stats_;
  for (const auto& [size, b] : by_size_) s.batch_stats.push_back(b);
  return s;
}

void StatsCollector::batch_histogram(std::vector<uint64_t>* cumulative, uint64_t* sum, uint64_t* count) const {
  std::lock_guard<std::mutex> lock(mu_);
  cumulative->clear();
  uint64_t acc = 0;
  for (uint64_t c : bucket_counts_) cumulative->push_back(acc += c);
  *sum = batch_sum_;
  *count = batch_count_;
}

}  // namespace kiln::server
