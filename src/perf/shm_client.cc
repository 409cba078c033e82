// kiln perf's system shared-memory objects: created, filled with the inputs once, unlinked at the end.
#include "perf/shm_client.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kiln::perf {

namespace {

constexpr uint64_t kAlign = 64;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

Result<uint64_t> output_area(const TensorInfo& t, int64_t batch_size, int64_t max_batch_size, uint64_t given) {
  if (given) return given;
  static const std::pair<const char*, size_t> kSizes[] = {
      {"BOOL", 1},   {"UINT8", 1}, {"INT8", 1}, {"UINT16", 2}, {"INT16", 2}, {"FP16", 2}, {"BF16", 2},
      {"UINT32", 4}, {"INT32", 4}, {"FP32", 4}, {"UINT64", 8}, {"INT64", 8}, {"FP64", 8}};
  size_t elem = 0;
  for (const auto& [name, size] : kSizes)
    if (t.datatype == name) elem = size;
  uint64_t n = elem;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t d = t.shape[i];
    if (i == 0 && max_batch_size > 0) d = batch_size;
    if (d < 0 || elem == 0) {
      n = 0;
      break;
    }
    n *= static_cast<uint64_t>(d);
  }
  if (n == 0)
    return invalid_argument("output '" + t.name + "' (" + t.datatype +
                            ") has no fixed byte size; give --output-shared-memory-size");
  return n;
}

}  // namespace

Result<std::unique_ptr<PerfShm>> PerfShm::create(const ModelInfo& model, const std::vector<RequestInputs>& requests,
                                                 int64_t batch_size, uint64_t output_bytes) {
  static std::atomic<int> next{0};
  std::unique_ptr<PerfShm> shm(new PerfShm);
  std::vector<uint64_t> out_sizes;
  for (const TensorInfo& t : model.outputs) {
    KILN_ASSIGN_OR_RETURN(uint64_t n, output_area(t, batch_size, model.max_batch_size, output_bytes));
    out_sizes.push_back(n);
  }
  const std::string prefix = "kiln_perf_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
  for (size_t r = 0; r < requests.size(); ++r) {
    const RequestInputs& inputs = requests[r];
    ShmRequestRegions regions;
    Object obj;
    obj.key = "/" + prefix + "_" + std::to_string(r);
    uint64_t off = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      regions.inputs.push_back({prefix + "_" + std::to_string(r) + "_in" + std::to_string(i), obj.key, off,
                                static_cast<uint64_t>(inputs[i].bytes.size())});
      off = align_up(off + inputs[i].bytes.size());
    }
    for (size_t o = 0; o < out_sizes.size(); ++o) {
      regions.outputs.push_back(
          {prefix + "_" + std::to_string(r) + "_out" + std::to_string(o), obj.key, off, out_sizes[o]});
      off = align_up(off + out_sizes[o]);
    }
    obj.size = static_cast<size_t>(std::max<uint64_t>(off, 1));
    int fd = ::shm_open(obj.key.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return failed_precondition("shm_open " + obj.key + ": " + std::strerror(errno));
    if (::ftruncate(fd, static_cast<off_t>(obj.size)) != 0) {
      int e = errno;
      ::close(fd);
      ::shm_unlink(obj.key.c_str());
      return failed_precondition("ftruncate " + obj.key + ": " + std::strerror(e));
    }
    obj.base = ::mmap(nullptr, obj.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (obj.base == MAP_FAILED) {
      ::shm_unlink(obj.key.c_str());
      return failed_precondition("mmap " + obj.key + ": " + std::strerror(errno));
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      std::memcpy(static_cast<char*>(obj.base) + regions.inputs[i].offset, inputs[i].bytes.data(),
                  inputs[i].bytes.size());
    shm->objects_.push_back(obj);
    shm->requests_.push_back(std::move(regions));
  }
  return shm;
}

PerfShm::~PerfShm() {
  for (const Object& o : objects_) {
    if (o.base && o.base != MAP_FAILED) ::munmap(o.base, o.size);
    ::shm_unlink(o.key.c_str());
  }
}

std::vector<ShmRegionRef> PerfShm::all_regions() const {
  std::vector<ShmRegionRef> out;
  for (const auto& r : requests_) {
    out.insert(out.end(), r.inputs.begin(), r.inputs.end());
    out.insert(out.end(), r.outputs.begin(), r.outputs.end());
  }
  return out;
}

}  // namespace kiln::perf
