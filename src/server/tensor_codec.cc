// Wire tensor <-> Kiln tensor conversions (raw little-endian row-major bytes; BYTES as 4-byte length + data).
#include "server/tensor_codec.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "kiln/engine.h"
#include "server/cuda_shm.h"      // cuda_copy (CUDA shared-memory inputs)
#include "server/shm_registry.h"  // guarded_copy / write_shm_output (shared-memory bytes)
#include "server/thread_name.h"

namespace kiln::server {

namespace {

uint32_t read_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Copies the pieces back to back into dst (`total` bytes in all); above kParallelBytes with up to kMaxThreads
// threads (half the cores), each taking a contiguous byte range of the output.
// every piece is copied with guarded_copy (a piece may be a shared-memory region its client truncated):
// returns the index of a piece whose copy faulted, or pieces.size() when all were copied.
size_t parallel_copy(char* dst, const std::vector<std::pair<const char*, size_t>>& pieces, size_t total) {
  constexpr size_t kParallelBytes = size_t{8} << 20;
  constexpr unsigned kMaxThreads = 4;
  static const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = total >= kParallelBytes ? std::min(kMaxThreads, cores / 2) : 1;
  std::atomic<size_t> failed{pieces.size()};
  auto copy_range = [&](size_t begin, size_t end) {  // output bytes [begin, end)
    if (begin != 0) name_this_thread("kiln-copy");
    size_t at = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const auto& [src, n] = pieces[i];
      const size_t lo = std::max(at, begin), hi = std::min(at + n, end);
      if (lo < hi && !guarded_copy(dst + lo, src + (lo - at), hi - lo)) failed.store(i);
      at += n;
      if (at >= end) break;
    }
  };
  if (threads <= 1) {
    copy_range(0, total);
    return failed.load();
  }
  std::vector<std::thread> helpers;
  const size_t chunk = (total + threads - 1) / threads;
  size_t inline_from = chunk;  // ranges no helper took (thread creation failed) are copied here
  for (unsigned i = 1; i < threads; ++i) {
    try {
      helpers.emplace_back(copy_range, std::min(total, i * chunk), std::min(total, (i + 1) * chunk));
    } catch (const std::system_error&) {
      inline_from = std::min(total, i * chunk);
      break;
    }
  }
  copy_range(0, std::min(total, chunk));
  if (inline_from < total && helpers.size() + 1 < threads) copy_range(inline_from, total);
  for (auto& h : helpers) h.join();
  return failed.load();
}

}  // namespace

ServerStatus check_tensor_bytes(const InferTensor& t, int64_t* numel) {
  int64_t n = dims_numel(t.shape);
  for (auto d : t.shape)
    if (d < 0) n = -1;
  if (n < 0)
    return server_error(ServerCode::kInvalidArgument,
                        "input '" + t.name + "': invalid shape " + dims_to_string(t.shape));
  *numel = n;
  const std::string_view data = t.bytes();
  if (t.dtype == DType::kString) {
    size_t pos = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (data.size() - pos < 4)
        return server_error(ServerCode::kInvalidArgument,
                            "input '" + t.name + "': BYTES data holds fewer than " + std::to_string(n) + " elements");
      uint32_t len = read_u32(data.data() + pos);
      pos += 4;
      if (data.size() - pos < len)
        return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': BYTES element " + std::to_string(i) +
                                                              " runs past the end of the data");
      pos += len;
    }
    if (pos != data.size())
      return server_error(ServerCode::kInvalidArgument,
                          "input '" + t.name + "': BYTES data has " + std::to_string(data.size() - pos) +
                              " bytes after the last of " + std::to_string(n) + " elements");
    return {};
  }
  size_t elem = dtype_size(t.dtype);
  if (elem == 0) return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': unsupported datatype");
  if (static_cast<uint64_t>(n) > data.size() / elem || static_cast<uint64_t>(n) * elem != data.size())
    return server_error(ServerCode::kInvalidArgument, "input '" + t.name + "': shape " + dims_to_string(t.shape) +
                                                          " of " + datatype_name(t.dtype) + " needs " +
                                                          std::to_string(static_cast<uint64_t>(n) * elem) +
                                                          " bytes, got " + std::to_string(data.size()));
  return {};
}

Result<Tensor> concat_tensors(const std::vector<const InferTensor*>& parts, DType dtype, const Dims& dims,
                              bool zero_fill_tail, BatchBuffer* reuse, bool pinned, size_t reserve_bytes,
                              size_t* failed_part) {
  Tensor t;
  if (reuse && dtype != DType::kString) {
    const int64_t n = dims_numel(dims);
    if (n < 0) return invalid_argument("invalid batch shape " + dims_to_string(dims));
    const size_t needed = static_cast<size_t>(n) * dtype_size(dtype);
    if (!reuse->memory || reuse->capacity < needed || reuse->pinned != pinned) {
      reuse->memory.reset();  // the old buffer goes first: both may not fit at once
      const size_t bytes = std::max(needed, reserve_bytes);
      KILN_ASSIGN_OR_RETURN(reuse->memory, allocate_host_buffer(bytes, pinned));
      reuse->capacity = bytes;
      reuse->pinned = pinned;
      reuse->initialized = 0;
    }
    t = Tensor::wrap(dtype, dims, reuse->memory.get(), reuse->memory);
  } else {
    KILN_ASSIGN_OR_RETURN(t, Tensor::allocate(dtype, dims));
  }
  if (dtype == DType::kString) {
    std::string* out = t.strings();
    int64_t k = 0;
    for (const InferTensor* p : parts) {
      const std::string_view b = p->bytes();
      size_t pos = 0;
      while (pos + 4 <= b.size() && k < t.numel()) {
        uint32_t len = read_u32(b.data() + pos);
        // Re-checked: a shared-memory region can change under us after validation.
        if (len > b.size() - pos - 4) return invalid_argument("BYTES element runs past the end of its input");
        out[k++].assign(b.data() + pos + 4, len);
        pos += 4 + len;
      }
    }
    if (k != t.numel())
      return internal_error("BYTES inputs hold " + std::to_string(k) + " elements, expected " +
                            std::to_string(t.numel()));
    return t;
  }
  char* dst = static_cast<char*>(t.raw());
  size_t off = 0;
  // The only copy of the request bytes on the way in: wire buffer (HTTP body, gRPC message, shared memory region)
  // straight into the batch tensor. Large batches (an image batch is tens of MiB) are copied by several threads:
  // one thread's memcpy bandwidth would otherwise bound the worker (and keep its GPU idle) at high image rates.
  std::vector<std::pair<const char*, size_t>> copies;
  copies.reserve(parts.size());
  bool any_device = false;
  for (const InferTensor* p : parts) {
    const std::string_view b = p->bytes();
    if (off + b.size() > t.nbytes()) return internal_error("input parts exceed the batch tensor");
    copies.emplace_back(b.data(), b.size());
    off += b.size();
    any_device |= p->view_device >= 0;
  }
  if (any_device) {  // CUDA shared-memory parts for an instance that runs on the host: one copy each, in order
    size_t at = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      std::string error;
      if (parts[k]->view_device >= 0 ? !cuda_copy(dst + at, copies[k].first, copies[k].second, /*to_device=*/false,
                                                  parts[k]->view_device, &error)
                                     : !guarded_copy(dst + at, copies[k].first, copies[k].second)) {
        if (failed_part) *failed_part = k;
        return invalid_argument("input '" + parts[k]->name + "': copying its bytes failed" +
                                (error.empty() ? std::string(" (shared memory truncated)") : ": " + error));
      }
      at += copies[k].second;
    }
  } else if (size_t bad = parallel_copy(dst, copies, off); bad < parts.size()) {  // a truncated shared-memory input
    if (failed_part) *failed_part = bad;
    auto it = parts[bad]->parameters.find("shared_memory_region");
    const std::string* region = it == parts[bad]->parameters.end() ? nullptr : std::get_if<std::string>(&it->second);
    return invalid_argument(shm_unbacked_message(region ? *region : "?", "input '" + parts[bad]->name + "'"));
  }
  if (!zero_fill_tail && off != t.nbytes()) return internal_error("input parts do not fill the batch tensor");
  // Stale rows are kept for floating-point inputs only: an earlier integer input (an index out of range, say) may
  // have failed its own batch and must not fail a later one from a padding row.
  const bool stale_ok = reuse && (dtype == DType::kFloat32 || dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
                                  dtype == DType::kFloat64);
  if (off < t.nbytes()) {
    const size_t from = stale_ok ? std::max(off, reuse->initialized) : off;
    if (from < t.nbytes()) std::memset(dst + from, 0, t.nbytes() - from);
  }
  if (reuse) reuse->initialized = std::max(reuse->initialized, static_cast<size_t>(t.nbytes()));
  return t;
}

namespace {

// Checks that `total` bytes fit the shared-memory target `shm` and makes `out` name it (no data in the response).
ServerStatus target_shm(const RequestedOutput& shm, size_t total, InferTensor* out) {
  if (total > shm.shm_size)
    return server_error(ServerCode::kInvalidArgument, "output '" + out->name + "' needs " + std::to_string(total) +
                                                          " bytes, shared memory region '" + shm.shm_region +
                                                          "' was given shared_memory_byte_size " +
                                                          std::to_string(shm.shm_size));
  out->data.clear();
  out->parameters["shared_memory_region"] = shm.shm_region;
  out->parameters["shared_memory_byte_size"] = static_cast<int64_t>(total);
  if (shm.shm_offset) out->parameters["shared_memory_offset"] = static_cast<int64_t>(shm.shm_offset);
  return {};
}

}  // namespace

ServerStatus slice_device_rows(const DeviceTensorView& t, int64_t begin, int64_t rows, InferTensor* out,
                               const RequestedOutput& shm) {
  out->dtype = t.dtype;
  out->shape = t.dims;
  int64_t row_elems = 1, first = 0, count = dims_numel(t.dims);
  if (begin >= 0) {
    for (size_t i = 1; i < t.dims.size(); ++i) row_elems *= t.dims[i];
    out->shape[0] = rows;
    first = begin * row_elems;
    count = rows * row_elems;
  }
  const size_t elem = dtype_size(t.dtype), total = static_cast<size_t>(count) * elem;
  ServerStatus st = target_shm(shm, total, out);
  if (!st.ok()) return st;
  return write_shm_output(shm, 0, static_cast<const char*>(t.data) + static_cast<size_t>(first) * elem, total,
                          /*src_on_device=*/true);
}

ServerStatus slice_rows(const Tensor& t, int64_t begin, int64_t rows, InferTensor* out, const RequestedOutput* shm) {
  out->dtype = t.dtype();
  out->shape = t.dims();
  int64_t row_elems = 1;
  int64_t first = 0, count = t.numel();
  if (begin >= 0) {
    for (size_t i = 1; i < t.rank(); ++i) row_elems *= t.dim(i);
    out->shape[0] = rows;
    first = begin * row_elems;
    count = rows * row_elems;
  }
  const bool to_shm = shm && shm->shm_dst;
  size_t total = 0;
  const std::string* s = t.dtype() == DType::kString ? t.strings() : nullptr;
  if (s) {
    for (int64_t i = first; i < first + count; ++i) total += 4 + s[i].size();
  } else {
    total = static_cast<size_t>(count) * dtype_size(t.dtype());
  }
  char* p;
  if (to_shm) {
    ServerStatus named = target_shm(*shm, total, out);
    if (!named.ok()) return named;
    // shared-memory targets are written only through write_shm_output (SIGBUS-guarded; CUDA regions: H2D).
    if (s) {
      std::string staged;
      staged.reserve(total);
      for (int64_t i = first; i < first + count; ++i) {
        uint32_t len = static_cast<uint32_t>(s[i].size());
        staged.append(reinterpret_cast<const char*>(&len), 4).append(s[i]);
      }
      return write_shm_output(*shm, 0, staged.data(), staged.size());
    }
    return write_shm_output(*shm, 0, static_cast<const char*>(t.raw()) + first * dtype_size(t.dtype()), total);
  } else {
    out->data.resize(total);
    p = out->data.data();
  }
  if (s) {
    for (int64_t i = first; i < first + count; ++i) {
      uint32_t len = static_cast<uint32_t>(s[i].size());
      std::memcpy(p, &len, 4);
      std::memcpy(p + 4, s[i].data(), len);
      p += 4 + len;
    }
    return {};
  }
  std::memcpy(p, static_cast<const char*>(t.raw()) + first * dtype_size(t.dtype()), total);
  return {};
}

}  // namespace kiln::server
