// The CPU context's activation arena: the first run at a set of input shapes records every CPU-kernel output's
// size and lifetime (step produced .. last step read, aliases included); plan_arena (src/runtime/arena_plan.h)
// then gives each an offset in one buffer, and later runs at the same shapes place those outputs there without
// allocating. Outputs of the graph are never placed in the arena (the caller keeps them).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kiln/tensor.h"
#include "runtime/arena_plan.h"

namespace kiln::cpu {

class ArenaTracker {
 public:
  // `last_use[slot]`: the last step that reads the slot (steps = nodes; num_steps for graph outputs).
  void init(std::vector<int> last_use);
  // Starts a run at these input shapes: planned when a plan for them exists, else recording.
  void begin_run(const std::vector<Dims>& shapes);
  // Ends a run; a recording run's records become the plan for its shapes.
  void end_run(bool ok);

  // Memory for `slot`'s value, produced at `step`.
  Result<Tensor> allocate(int slot, int step, DType dtype, const Dims& dims);
  // `slot` (produced at `step`) shares the bytes of `root_slot`; returns false when a planned run must copy it
  // instead (it would outlive the arena region its root was planned for).
  bool note_alias(int slot, int root_slot);
  // The arena-backed slot whose bytes contain `ptr` among `candidates` (slots), or -1.
  int find_root(const void* ptr, const std::vector<int>& candidates) const;
  // Whether `slot`'s bytes live in the arena (or were recorded for it): copy before handing them out.
  bool in_arena(int slot) const { return slot >= 0 && slot < static_cast<int>(root_.size()) && root_[slot] >= 0; }
  void forget(int slot) {
    if (in_arena(slot)) root_[slot] = -1;
  }

  size_t peak_bytes() const { return peak_; }
  bool planned() const { return current_ != nullptr; }

 private:
  struct Plan {
    std::vector<Dims> shapes;
    std::vector<int64_t> offset;  // per slot; -1: not in the arena
    std::vector<size_t> size;     // per slot: planned bytes
    std::vector<int> last;        // per slot: last step its region is reserved for
    size_t total = 0;
  };
  struct Record {
    int slot = -1;
    const uint8_t* base = nullptr;
    size_t bytes = 0;
    AllocationRecord rec;
  };

  std::vector<int> last_use_;
  std::vector<int> root_;       // per slot: the slot whose allocation it uses (itself when it owns one), or -1
  std::vector<int> record_of_;  // per slot: index into records_ (recording run), or -1
  std::vector<Record> records_;
  std::vector<const uint8_t*> base_;  // per owning slot: its bytes (this run)
  std::vector<size_t> bytes_;
  std::vector<std::unique_ptr<Plan>> plans_;  // a few shape sets, most recent last
  Plan* current_ = nullptr;
  bool stale_ = false;  // a planned run met a size it did not plan for: forget the plan
  std::shared_ptr<uint8_t> buffer_;
  size_t capacity_ = 0;
  size_t peak_ = 0;
};

}  // namespace kiln::cpu
