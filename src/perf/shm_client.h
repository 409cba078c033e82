// kiln perf --shared-memory system|cuda: each prepared request's inputs (written once) and room for its outputs in
// POSIX shared memory or CUDA device memory, described as named regions for the server's shared-memory extensions.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "perf/client.h"
#include "perf/cuda_ipc_buffer.h"
#include "perf/perf_options.h"

namespace kiln::perf {

// A tensor's bytes in shared memory, as a request references them.
struct ShmTensorRef {
  std::string region;      // shared_memory_region
  uint64_t offset = 0;     // shared_memory_offset (requests send it only when non-zero)
  uint64_t byte_size = 0;  // shared_memory_byte_size
};

// The tensors of one prepared request (one data set).
struct ShmRequestRegions {
  std::vector<ShmTensorRef> inputs;   // in the order of the request's inputs
  std::vector<ShmTensorRef> outputs;  // in the order of ModelInfo::outputs
};

// One region to register with the server (and unregister at the end).
struct ShmRegistration {
  std::string name;
  uint64_t byte_size = 0;
  std::string key;         // system: the POSIX shm name ("/kiln_perf_<pid>_<n>_<set>")
  uint64_t offset = 0;     // system: the region's offset in that object
  std::string raw_handle;  // cuda: the 64-byte cudaIpcMemHandle_t
  int device = 0;          // cuda: the device holding the allocation
};

class PerfShm {
 public:
  // One block per data set: its inputs' bytes, then an area per output (64-byte aligned). kind kSystem: a POSIX
  // shm object per data set, registered as one region per input and per output (offset 0 in requests). kind kCuda:
  // one cudaMalloc'd buffer per data set on cuda_device (inputs copied there once), registered as one region that
  // requests reference with shared_memory_offset. output_bytes: the area of each output (0 = from the model
  // metadata: batch_size times the output's fixed dims; an output with dynamic dims or BYTES then needs
  // --output-shared-memory-size). Concurrent requests of one data set share its output areas, as perf_analyzer's
  // do: the client never reads them.
  static Result<std::unique_ptr<PerfShm>> create(ShmKind kind, const ModelInfo& model,
                                                 const std::vector<RequestInputs>& requests, int64_t batch_size,
                                                 uint64_t output_bytes, int cuda_device = 0);
  // Unmaps and unlinks the POSIX objects / frees the device buffers: unregister the regions first.
  ~PerfShm();

  ShmKind kind() const { return kind_; }
  const std::vector<ShmRequestRegions>& requests() const { return requests_; }
  const std::vector<ShmRegistration>& registrations() const { return registrations_; }

 private:
  PerfShm() = default;
  struct Object {
    std::string key;
    void* base = nullptr;
    size_t size = 0;
  };
  ShmKind kind_ = ShmKind::kSystem;
  std::vector<Object> objects_;         // kSystem
  std::vector<CudaIpcBuffer> buffers_;  // kCuda
  std::vector<ShmRequestRegions> requests_;
  std::vector<ShmRegistration> registrations_;
};

}  // namespace kiln::perf
