// Shared-memory regions (Triton's system and CUDA shared-memory extensions): register, unregister, status, the
// caps and trust rules on registration, the resolution of a request's shared_memory_* parameters into checked
// views, and the guarded copies through which every byte read from or written to a region passes.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

// What `kiln serve` allows (--shared-memory, --shm-key-prefix, --shm-max-regions, --shm-max-bytes).
struct ShmOptions {
  bool system = true;                       // system (POSIX) shared memory may be registered
  bool cuda = true;                         // CUDA shared memory may be registered (and the build and host have CUDA)
  std::string key_prefix;                   // system keys must start with "/" + key_prefix ("" = any key)
  size_t max_regions = 1024;                // registered regions of both kinds together
  uint64_t max_bytes = uint64_t{64} << 30;  // sum of registered byte_size, both kinds together
};

struct ShmRegionStatus {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

struct CudaShmRegionStatus {
  std::string name;
  int64_t device_id = 0;
  uint64_t byte_size = 0;
};

// One registered window: host memory (a MAP_SHARED mapping of exactly the registered window of a POSIX shm
// object, page-aligned down) or device memory (a cudaIpcOpenMemHandle mapping; device() >= 0). Requests hold it
// by shared_ptr (InferTensor::hold / RequestedOutput::shm_hold point to a ShmMapping: resolve_shared_memory is their
// only setter for shared memory), so an unregister while requests use it only drops the registry's reference;
// `release` (munmap / cudaIpcCloseMemHandle) runs when the last holder is destroyed.
class ShmMapping {
 public:
  ShmMapping(std::string region, char* data, size_t size, int device, std::function<void()> release)
      : region_(std::move(region)), data_(data), size_(size), device_(device), release_(std::move(release)) {}
  ~ShmMapping() {
    if (release_) release_();
  }
  ShmMapping(const ShmMapping&) = delete;
  ShmMapping& operator=(const ShmMapping&) = delete;
  const std::string& region() const { return region_; }
  char* data() const { return data_; }
  size_t size() const { return size_; }
  int device() const { return device_; }  // -1: host memory

 private:
  std::string region_;
  char* data_;
  size_t size_;
  int device_;
  std::function<void()> release_;
};

class ShmRegistry {
 public:
  ShmRegistry();  // installs the process-wide SIGBUS handler used by guarded_copy()
  // Set once at startup, before the front ends start.
  void configure(const ShmOptions& options);
  const ShmOptions& options() const { return options_; }
  // "system_shared_memory" / "cuda_shared_memory" when enabled (CUDA: and the build and host have a GPU).
  std::vector<std::string> extensions() const;

  // ---- system shared memory ----
  // key: a POSIX shm name ("/name", no other '/', starting with "/" + key_prefix), opened read-write, not
  // following symlinks; the object must be a regular shm object owned by the server's effective uid. offset and
  // byte_size are checked against the object's size (fstat) before anything is mapped. Errors (also a name
  // already registered as either kind, a cap reached, system shared memory disabled) are kInvalidArgument.
  ServerStatus register_region(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size);
  // name "" = every system region. Unregistering a name that is not registered succeeds (as Triton does).
  ServerStatus unregister(const std::string& name);
  // name "" = every system region; an unknown name is kInvalidArgument.
  ServerStatus status(const std::string& name, std::vector<ShmRegionStatus>* out) const;

  // ---- CUDA shared memory (the gRPC and HTTP front ends call these) ----
  // raw_handle: the cudaIpcMemHandle_t bytes (64) as sent by the client (HTTP: base64-decoded already).
  // kInvalidArgument "CUDA shared memory is not available: ..." on builds without CUDA, hosts without a GPU, or
  // --shared-memory none|system; otherwise the handle is opened on device_id (cudaIpcOpenMemHandle) and closed
  // when the region is unregistered and the last request using it finished.
  ServerStatus register_cuda_region(const std::string& name, const std::string& raw_handle, int64_t device_id,
                                    uint64_t byte_size);
  // name "" = every CUDA region; an unknown name succeeds.
  ServerStatus unregister_cuda(const std::string& name);
  // name "" = every CUDA region (an empty list where CUDA is unavailable); an unknown name is kInvalidArgument.
  ServerStatus cuda_status(const std::string& name, std::vector<CudaShmRegionStatus>* out) const;

  // [offset, offset + size) of region `name` (either kind), checked against the region; *mapping keeps it alive.
  ServerStatus view(const std::string& name, uint64_t offset, uint64_t size,
                    std::shared_ptr<const ShmMapping>* mapping) const;

 private:
  struct Region {
    bool cuda = false;
    ShmRegionStatus status;
    int64_t device_id = -1;
    std::shared_ptr<ShmMapping> mapping;
  };
  ServerStatus check_caps_locked(const std::string& where, uint64_t byte_size) const;
  ServerStatus insert(const std::string& where, Region region);
  void drop(bool cuda, const std::string& name);

  ShmOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Region> regions_;  // both kinds: one namespace, as in Triton
  uint64_t total_bytes_ = 0;
};

// Resolves shared_memory_region / shared_memory_byte_size / shared_memory_offset parameters: an input gets a
// view of the region (its `data` must be empty: no inline data and no binary_data_size alongside) and an output
// gets a write target (RequestedOutput::shm_*). Inputs in CUDA regions and BYTES inputs are copied into `data`
// here (device-to-host; BYTES so that validation and the batch read one stable copy). Each region window is
// probed (a guarded read of its last byte) so that a truncated object is a clean error here. Every error is
// kInvalidArgument with a message naming the tensor.
ServerStatus resolve_shared_memory(const ShmRegistry& registry, InferRequest* request);

// ---- Guarded copies: every byte read from or written to a system region goes through these ----
// memcpy that survives SIGBUS (a client truncated the shm object under a mapping): false when the copy faulted
// (dst is then partially written). Safe to call from any thread, concurrently; costs a sigsetjmp (no syscall).
// A SIGBUS outside a guarded copy keeps its default action (the process dies, as before).
bool guarded_copy(void* dst, const void* src, size_t n);
// The error for a tensor whose shared-memory bytes could not be read: names its region.
std::string shm_unbacked_message(const std::string& region, const std::string& tensor_where);
// Writes n bytes at `at` of an output's shared-memory target (host: guarded_copy; CUDA: host-to-device copy).
// kInvalidArgument naming the region when the object was truncated or the device copy failed.
// src_on_device: `src` is CUDA device memory (a GPU engine's output), copied device-to-device (CUDA regions only).
ServerStatus write_shm_output(const RequestedOutput& output, size_t at, const void* src, size_t n,
                              bool src_on_device = false);

}  // namespace kiln::server
