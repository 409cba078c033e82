// OutputPool: graph-output buffers recycled between runs.
#include "backends/cpu/output_pool.h"

#include <cstdlib>

namespace kiln::cpu {

std::shared_ptr<OutputPool> OutputPool::create(size_t max_free) {
  return std::shared_ptr<OutputPool>(new OutputPool(max_free));
}

OutputPool::~OutputPool() {
  for (Buffer& b : free_) std::free(b.p);
}

size_t OutputPool::free_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

void OutputPool::give_back(Buffer b) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() >= max_free_) {
    // Keep the largest buffers: drop the smallest of the free ones and the returned one.
    size_t smallest = 0;
    for (size_t i = 1; i < free_.size(); ++i)
      if (free_[i].bytes < free_[smallest].bytes) smallest = i;
    if (free_.empty() || b.bytes <= free_[smallest].bytes) {
      std::free(b.p);
      return;
    }
    std::free(free_[smallest].p);
    free_[smallest] = b;
    return;
  }
  free_.push_back(b);
}

Result<Tensor> OutputPool::allocate(DType dtype, const Dims& dims) {
  if (dtype == DType::kString) return Tensor::allocate(dtype, dims);
  const int64_t n = dims_numel(dims);
  if (n < 0) return invalid_argument("invalid tensor dims " + dims_to_string(dims));
  if (dtype == DType::kUndefined) return invalid_argument("cannot allocate a tensor of undefined type");
  if (static_cast<uint64_t>(n) > kDefaultMaxTensorBytes / std::max<size_t>(1, dtype_size(dtype)))
    return resource_exhausted("tensor " + dims_to_string(dims) + " of " + dtype_name(dtype) + " exceeds the size limit");
  const size_t bytes = std::max<size_t>(64, (static_cast<size_t>(n) * dtype_size(dtype) + 63) / 64 * 64);
  Buffer buf;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The smallest free buffer that fits, if it wastes at most a quarter of itself.
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].bytes >= bytes && free_[i].bytes - bytes <= free_[i].bytes / 4 &&
          (best == free_.size() || free_[i].bytes < free_[best].bytes))
        best = i;
    if (best < free_.size()) {
      buf = free_[best];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  if (!buf.p) {
    buf.p = std::aligned_alloc(64, bytes);
    if (!buf.p) return resource_exhausted("out of host memory allocating " + dims_to_string(dims));
    buf.bytes = bytes;
  }
  std::weak_ptr<OutputPool> pool = weak_from_this();
  std::shared_ptr<void> owner(buf.p, [pool, buf](void*) {
    if (auto p = pool.lock()) p->give_back(buf);
    else std::free(buf.p);
  });
  return Tensor::wrap(dtype, dims, buf.p, std::move(owner));
}

}  // namespace kiln::cpu
