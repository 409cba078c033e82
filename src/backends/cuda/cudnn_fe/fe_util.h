// Shared helpers for kernels built on NVIDIA's cuDNN frontend (graph API): error-to-Status conversion, stream
// binding, dtype mapping and a build-once cache. This header does NOT include cudnn_frontend.h (it is heavy): only
// the few .cc files that build graphs include it.
#pragma once
#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "backends/cuda/gemm/epilogue.h"
#include "backends/cuda/kernel.h"
#include "kiln/status.h"

namespace cudnn_frontend {
enum class DataType_t;  // defined in cudnn_frontend_utils.h (a scoped enum without a fixed type, so int)
}  // namespace cudnn_frontend

namespace kiln::cuda {

// The frontend's data type for one of our float element types (FLOAT, HALF, BFLOAT16).
cudnn_frontend::DataType_t fe_data_type(ElemType t);

// Binds the context's stream to its cuDNN handle (frontend graphs run on the handle's stream).
Status fe_bind_stream(CudaKernelContext& ctx);

// cuDNN's version string ("9.19.0") for messages and tactic names.
std::string cudnn_version_string();

// A frontend error_t (anything with is_good() / get_message()) as a Status naming the node and the step:
// unimplemented, because a frontend failure means "cuDNN does not support this graph here", which callers turn
// into another tactic or kernel rather than a failed build.
template <class FeError>
Status fe_status(const CudaKernelContext& ctx, FeError err, const char* step) {
  if (err.is_good()) return ok_status();
  return ctx.unsupported(std::string("cuDNN graph ") + step + ": " + err.get_message());
}

// Values built once per key (typically a shape key) and kept for the context's lifetime. A failed build is cached
// too, with its Status, so that a rejected shape costs one attempt and not one per run.
template <class T>
class FeCache {
 public:
  // The entry for `key`, building it with `build()` (returning Result<std::unique_ptr<T>>) on first use.
  template <class Build>
  Result<T*> get(const std::string& key, Build&& build) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      Entry e;
      auto made = build();
      if (made.ok()) {
        e.value = std::move(made).value();
      } else {
        e.status = made.status();
      }
      it = entries_.emplace(key, std::move(e)).first;
    }
    if (!it->second.value) return it->second.status;
    return it->second.value.get();
  }
  // The entry for `key` when it was built successfully, else nullptr (never builds).
  T* find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.value.get();
  }

 private:
  struct Entry {
    std::unique_ptr<T> value;
    Status status;
  };
  std::map<std::string, Entry> entries_;
};

// The node's per-context state as an S (created empty on first use). Every caller for one node must use the same S.
template <class S>
S& node_state_as(CudaKernelContext& ctx) {
  std::shared_ptr<void>& state = ctx.node_state();
  if (!state) state = std::make_shared<S>();
  return *static_cast<S*>(state.get());
}

}  // namespace kiln::cuda
