// A barrier for a team that meets many times in quick succession (an RNN's time steps split over threads): each
// arrival spins on a generation counter, so a meeting costs a cache-line hand-over instead of an OpenMP fork/join
// or a futex wake-up. After a bounded spin a waiter yields its core, so a descheduled team member (a busy machine)
// costs a scheduler slice, never a stall of the whole core.
#pragma once
#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kiln::cpu::kern {

class SpinBarrier {
 public:
  explicit SpinBarrier(int members) : members_(members) {}
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;

  // Returns once all `members` have called wait() for this meeting; what each wrote before is visible to all after.
  void wait() {
    const unsigned gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == members_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < kSpinsBeforeYield) pause();
      else std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpinsBeforeYield = 1 << 14;  // ~100 us of pause instructions
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<unsigned> generation_{0};
  const int members_;
};

}  // namespace kiln::cpu::kern
