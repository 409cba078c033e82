// The CPU activation arena: record one run per input-shape set, plan offsets by liveness, reuse them.
#include "backends/cpu/arena.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace kiln::cpu {

namespace {

constexpr size_t kMaxPlans = 8;

std::shared_ptr<uint8_t> aligned_buffer(size_t bytes) {
  void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 64) + 63) / 64 * 64);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

}  // namespace

void ArenaTracker::init(std::vector<int> last_use) {
  last_use_ = std::move(last_use);
  size_t n = last_use_.size();
  root_.assign(n, -1);
  record_of_.assign(n, -1);
  base_.assign(n, nullptr);
  bytes_.assign(n, 0);
}

void ArenaTracker::begin_run(const std::vector<Dims>& shapes) {
  std::fill(root_.begin(), root_.end(), -1);
  std::fill(record_of_.begin(), record_of_.end(), -1);
  records_.clear();
  stale_ = false;
  current_ = nullptr;
  static const bool disabled = [] {
    const char* e = std::getenv("KILN_CPU_ARENA");  // "0": never plan (every output allocated; for debugging)
    return e && std::string(e) == "0";
  }();
  for (auto& p : plans_)
    if (p->shapes == shapes && !disabled) current_ = p.get();
  if (!current_) {
    // Recording: remember the shapes in a new (empty) plan filled by end_run.
    if (plans_.size() >= kMaxPlans) plans_.erase(plans_.begin());
    auto p = std::make_unique<Plan>();
    p->shapes = shapes;
    plans_.push_back(std::move(p));
  }
}

void ArenaTracker::end_run(bool ok) {
  if (current_) {
    if (stale_) {
      // A size changed under a fixed shape set (data-dependent shapes): re-record next time.
      for (size_t i = 0; i < plans_.size(); ++i)
        if (plans_[i].get() == current_) plans_.erase(plans_.begin() + i);
    }
    current_ = nullptr;
    return;
  }
  if (!ok || plans_.empty()) {
    if (!plans_.empty()) plans_.pop_back();
    return;
  }
  Plan& plan = *plans_.back();
  std::vector<AllocationRecord> recs;
  for (const auto& r : records_) recs.push_back(r.rec);
  ArenaPlan ap = plan_arena(recs);
  size_t n = last_use_.size();
  plan.offset.assign(n, -1);
  plan.size.assign(n, 0);
  plan.last.assign(n, 0);
  for (size_t i = 0; i < records_.size(); ++i) {
    int s = records_[i].slot;
    plan.offset[s] = static_cast<int64_t>(ap.offsets[i]);
    plan.size[s] = ap.sizes[i];
    plan.last[s] = records_[i].rec.last;
  }
  plan.total = ap.total;
  peak_ = std::max(peak_, plan.total);
  records_.clear();
}

Result<Tensor> ArenaTracker::allocate(int slot, int step, DType dtype, const Dims& dims) {
  int64_t numel = dims_numel(dims);
  if (numel < 0) return invalid_argument("output dims " + dims_to_string(dims) + " are invalid");
  size_t bytes = static_cast<size_t>(numel) * dtype_size(dtype);
  root_[slot] = -1;
  if (current_) {
    if (current_->offset[slot] >= 0 && bytes <= current_->size[slot]) {
      if (current_->total > capacity_) {
        buffer_ = aligned_buffer(current_->total);
        capacity_ = current_->total;
      }
      uint8_t* p = buffer_.get() + current_->offset[slot];
      root_[slot] = slot;
      base_[slot] = p;
      bytes_[slot] = bytes;
      return Tensor::wrap(dtype, dims, p, buffer_);
    }
    stale_ = true;  // a size or an output the recording run did not see
    return Tensor::allocate(dtype, dims);
  }
  auto t = Tensor::allocate(dtype, dims);
  if (!t.ok()) return t.status();
  Record r;
  r.slot = slot;
  r.base = static_cast<const uint8_t*>(t->raw());
  r.bytes = bytes;
  r.rec.bytes = bytes;
  r.rec.first = step;
  r.rec.last = std::max(step, last_use_[slot]);
  record_of_[slot] = static_cast<int>(records_.size());
  records_.push_back(r);
  root_[slot] = slot;
  base_[slot] = r.base;
  bytes_[slot] = bytes;
  return t;
}

bool ArenaTracker::note_alias(int slot, int root_slot) {
  int root = root_[root_slot];
  if (root < 0) return true;
  if (current_) {
    if (last_use_[slot] > current_->last[root]) return false;  // would outlive its region: copy
    root_[slot] = root;
    return true;
  }
  root_[slot] = root;
  int rec = record_of_[root];
  if (rec >= 0) records_[rec].rec.last = std::max(records_[rec].rec.last, last_use_[slot]);
  return true;
}

int ArenaTracker::find_root(const void* ptr, const std::vector<int>& candidates) const {
  auto* p = static_cast<const uint8_t*>(ptr);
  for (int c : candidates) {
    if (c < 0) continue;
    int r = root_[c];
    if (r < 0) continue;
    if (p >= base_[r] && p < base_[r] + std::max<size_t>(bytes_[r], 1)) return c;
  }
  return -1;
}

}  // namespace kiln::cpu
