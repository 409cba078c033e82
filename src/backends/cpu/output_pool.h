// Reusable memory for a context's graph outputs. The caller keeps the output tensors a run hands out, so they
// cannot live in the activation arena; allocating them fresh every run costs a page fault per 4 KiB (an 8.6 MB
// segmentation map: ~6 ms of a 30 ms inference) and a zero-fill. Buffers come back to the pool when the last
// Tensor referring to them is dropped (the caller's copy too), and the next run's outputs reuse them.
#pragma once
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

class OutputPool : public std::enable_shared_from_this<OutputPool> {
 public:
  // At most `max_free` buffers are kept for reuse; more are freed.
  static std::shared_ptr<OutputPool> create(size_t max_free);
  ~OutputPool();
  // An uninitialized tensor (64-byte aligned); its bytes return to this pool (or are freed once the pool is gone)
  // when the last copy of the tensor is destroyed. String tensors are allocated normally.
  Result<Tensor> allocate(DType dtype, const Dims& dims);
  size_t free_buffers() const;

 private:
  explicit OutputPool(size_t max_free) : max_free_(max_free) {}
  struct Buffer {
    void* p = nullptr;
    size_t bytes = 0;
  };
  void give_back(Buffer b);

  mutable std::mutex mu_;
  std::vector<Buffer> free_;
  size_t max_free_;
};

}  // namespace kiln::cpu
