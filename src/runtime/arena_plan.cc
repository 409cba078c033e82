// Greedy interval packing for the activation arena.
#include "runtime/arena_plan.h"

#include <algorithm>
#include <numeric>

namespace kiln {

ArenaPlan plan_arena(const std::vector<AllocationRecord>& records) {
  ArenaPlan plan;
  size_t n = records.size();
  plan.offsets.assign(n, 0);
  plan.sizes.resize(n);
  for (size_t i = 0; i < n; ++i) plan.sizes[i] = (records[i].bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Largest first: big tensors get low, stable offsets; small ones fill the gaps.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return plan.sizes[a] > plan.sizes[b]; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    // Intervals already placed that overlap i in time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      bool overlap = records[j].first <= records[i].last && records[i].first <= records[j].last;
      if (overlap) busy.emplace_back(plan.offsets[j], plan.offsets[j] + plan.sizes[j]);
    }
    std::sort(busy.begin(), busy.end());
    size_t best = static_cast<size_t>(-1), best_gap = static_cast<size_t>(-1), cur = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo >= cur + plan.sizes[i] && lo - cur < best_gap) {
        best = cur;
        best_gap = lo - cur;
      }
      cur = std::max(cur, hi);
    }
    if (best == static_cast<size_t>(-1)) best = cur;
    plan.offsets[i] = best;
    plan.total = std::max(plan.total, best + plan.sizes[i]);
    placed.push_back(i);
  }
  return plan;
}

}  // namespace kiln
