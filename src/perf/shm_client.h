// kiln perf --shared-memory system: POSIX shared-memory objects holding each prepared request's inputs (written
// once) and room for its outputs, described as named regions for the server's system shared-memory extension.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "perf/client.h"

namespace kiln::perf {

struct ShmRegionRef {
  std::string name;  // region name registered with the server
  std::string key;   // POSIX shm name ("/kiln_perf_<pid>_<set>")
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// The regions of one prepared request (one data set): one per input and one per model output.
struct ShmRequestRegions {
  std::vector<ShmRegionRef> inputs;   // in the order of the request's inputs
  std::vector<ShmRegionRef> outputs;  // in the order of ModelInfo::outputs
};

class PerfShm {
 public:
  // One shm object per data set: its inputs' bytes, then an area per output. output_bytes: the area of each
  // output (0 = from the model metadata: batch_size times the output's fixed dims; an output with dynamic dims or
  // BYTES then needs --output-shared-memory-size). Concurrent requests of one data set share its output areas, as
  // perf_analyzer's do: the client never reads them.
  static Result<std::unique_ptr<PerfShm>> create(const ModelInfo& model, const std::vector<RequestInputs>& requests,
                                                 int64_t batch_size, uint64_t output_bytes);
  ~PerfShm();  // unmaps and unlinks the objects (the server keeps its mappings until it unregisters)

  const std::vector<ShmRequestRegions>& requests() const { return requests_; }
  std::vector<ShmRegionRef> all_regions() const;

 private:
  PerfShm() = default;
  struct Object {
    std::string key;
    void* base = nullptr;
    size_t size = 0;
  };
  std::vector<Object> objects_;
  std::vector<ShmRequestRegions> requests_;
};

}  // namespace kiln::perf
