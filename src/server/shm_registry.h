// System shared-memory regions (Triton's system shared-memory extension): register, unregister, status, and the
// resolution of a request's shared_memory_* parameters into checked views of a mapped region.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

struct ShmRegionStatus {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// One mapping of [offset, offset + byte_size) of a POSIX shared-memory object, made once at register. Requests
// hold it by shared_ptr, so an unregister while requests read or write it only drops the registry's reference;
// the memory is unmapped when the last request holding it is destroyed.
class ShmMapping {
 public:
  ShmMapping(void* base, size_t map_size, char* data, size_t size)
      : base_(base), map_size_(map_size), data_(data), size_(size) {}
  ~ShmMapping();
  ShmMapping(const ShmMapping&) = delete;
  ShmMapping& operator=(const ShmMapping&) = delete;
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* base_;
  size_t map_size_;
  char* data_;
  size_t size_;
};

class ShmRegistry {
 public:
  // key: a POSIX shm name ("/name", no other '/'), opened read-write with shm_open. offset and byte_size are
  // checked against the object's size (fstat) before anything is mapped. Errors are kInvalidArgument (also for
  // a name already registered).
  ServerStatus register_region(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size);
  // name "" = every region. Unregistering a name that is not registered succeeds (as Triton does).
  ServerStatus unregister(const std::string& name);
  // name "" = every region; an unknown name is kInvalidArgument.
  ServerStatus status(const std::string& name, std::vector<ShmRegionStatus>* out) const;
  // [offset, offset + size) of region `name`, checked against the region; *hold keeps it mapped.
  ServerStatus view(const std::string& name, uint64_t offset, uint64_t size, std::shared_ptr<const void>* hold,
                    char** data) const;

 private:
  struct Region {
    ShmRegionStatus status;
    std::shared_ptr<ShmMapping> mapping;
  };
  mutable std::mutex mu_;
  std::map<std::string, Region> regions_;
};

// Resolves shared_memory_region / shared_memory_byte_size / shared_memory_offset parameters: an input gets a
// view of the region (its `data` must be empty: no inline data and no binary_data_size alongside) and an output
// gets a write target (RequestedOutput::shm_*). Every error is kInvalidArgument with a message naming the tensor.
ServerStatus resolve_shared_memory(const ShmRegistry& registry, InferRequest* request);

}  // namespace kiln::server
