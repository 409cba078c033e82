// Planning one activation arena from a recorded run (shared by the CUDA and CPU backends): each allocation gets an
// offset so that allocations alive at the same time never overlap (greedy by size, first fit between live neighbours).
#pragma once
#include <cstddef>
#include <vector>

namespace kiln {

struct AllocationRecord {
  size_t bytes = 0;
  int first = 0;  // step at which it was allocated
  int last = 0;   // step at which it was released (inclusive)
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // per allocation, in recording order
  std::vector<size_t> sizes;
  size_t total = 0;
};

constexpr size_t kArenaAlignment = 256;

ArenaPlan plan_arena(const std::vector<AllocationRecord>& records);

}  // namespace kiln
