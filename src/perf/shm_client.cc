// kiln perf's shared memory: one block layout per data set, placed in a POSIX shm object (system) or a CUDA IPC
// buffer (cuda), filled with the inputs once, released at the end.
#include "perf/shm_client.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

// Where one data set's tensors lie in its block: inputs back to back, then the output areas, each 64-byte aligned.
struct Layout {
  std::vector<uint64_t> inputs, outputs;  // offsets
  uint64_t inputs_end = 0;                // the end of the last input's bytes
  uint64_t size = 0;                      // the block's size (at least 1)
};

Layout layout(const RequestInputs& inputs, const std::vector<uint64_t>& out_sizes) {
  Layout l;
  uint64_t off = 0;
  for (const InputTensor& t : inputs) {
    l.inputs.push_back(off);
    l.inputs_end = off + t.bytes.size();
    off = align_up(l.inputs_end);
  }
  for (uint64_t n : out_sizes) {
    l.outputs.push_back(off);
    off = align_up(off + n);
  }
  l.size = std::max<uint64_t>(off, 1);
  return l;
}

// Creates the POSIX shm object `key` of l.size bytes, maps it and writes the inputs at their offsets.
Status create_object(const std::string& key, const Layout& l, const RequestInputs& inputs, void** base) {
  int fd = ::shm_open(key.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return failed_precondition("shm_open " + key + ": " + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(l.size)) != 0) {
    int e = errno;
    ::close(fd);
    ::shm_unlink(key.c_str());
    return failed_precondition("ftruncate " + key + ": " + std::strerror(e));
  }
  *base = ::mmap(nullptr, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (*base == MAP_FAILED) {
    *base = nullptr;
    ::shm_unlink(key.c_str());
    return failed_precondition("mmap " + key + ": " + std::strerror(errno));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    std::memcpy(static_cast<char*>(*base) + l.inputs[i], inputs[i].bytes.data(), inputs[i].bytes.size());
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<PerfShm>> PerfShm::create(ShmKind kind, const ModelInfo& model,
                                                 const std::vector<RequestInputs>& requests, int64_t batch_size,
                                                 uint64_t output_bytes, int cuda_device) {
  if (kind == ShmKind::kNone) return invalid_argument("PerfShm::create: no shared-memory kind");
  static std::atomic<int> next{0};
  std::unique_ptr<PerfShm> shm(new PerfShm);
  shm->kind_ = kind;
  std::vector<uint64_t> out_sizes;
  for (const TensorInfo& t : model.outputs) {
    KILN_ASSIGN_OR_RETURN(uint64_t n, output_area(t, batch_size, model.max_batch_size, output_bytes));
    out_sizes.push_back(n);
  }
  const std::string prefix = "kiln_perf_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
  for (size_t r = 0; r < requests.size(); ++r) {
    const RequestInputs& inputs = requests[r];
    const Layout l = layout(inputs, out_sizes);
    const std::string set = prefix + "_" + std::to_string(r);
    ShmRequestRegions regions;
    if (kind == ShmKind::kSystem) {
      // One region per tensor, each at its offset in the object: requests use offset 0.
      Object obj{"/" + set, nullptr, static_cast<size_t>(l.size)};
      KILN_RETURN_IF_ERROR(create_object(obj.key, l, inputs, &obj.base));
      shm->objects_.push_back(obj);
      auto add = [&](const std::string& name, uint64_t offset, uint64_t size, std::vector<ShmTensorRef>* refs) {
        ShmRegistration reg;
        reg.name = name;
        reg.key = obj.key;
        reg.offset = offset;
        reg.byte_size = size;
        shm->registrations_.push_back(std::move(reg));
        refs->push_back({name, 0, size});
      };
      for (size_t i = 0; i < inputs.size(); ++i)
        add(set + "_in" + std::to_string(i), l.inputs[i], inputs[i].bytes.size(), &regions.inputs);
      for (size_t o = 0; o < out_sizes.size(); ++o)
        add(set + "_out" + std::to_string(o), l.outputs[o], out_sizes[o], &regions.outputs);
    } else {
      // One region for the whole buffer (a CUDA IPC handle names an allocation's base): requests give offsets.
      std::string staging(static_cast<size_t>(l.inputs_end), '\0');
      for (size_t i = 0; i < inputs.size(); ++i)
        std::memcpy(staging.data() + l.inputs[i], inputs[i].bytes.data(), inputs[i].bytes.size());
      KILN_ASSIGN_OR_RETURN(CudaIpcBuffer buf, CudaIpcBuffer::create(cuda_device, static_cast<size_t>(l.size),
                                                                     staging.data(), staging.size()));
      ShmRegistration reg;
      reg.name = set;
      reg.byte_size = l.size;
      reg.raw_handle = buf.raw_handle();
      reg.device = buf.device();
      shm->registrations_.push_back(std::move(reg));
      shm->buffers_.push_back(std::move(buf));
      for (size_t i = 0; i < inputs.size(); ++i) regions.inputs.push_back({set, l.inputs[i], inputs[i].bytes.size()});
      for (size_t o = 0; o < out_sizes.size(); ++o) regions.outputs.push_back({set, l.outputs[o], out_sizes[o]});
    }
    shm->requests_.push_back(std::move(regions));
  }
  return shm;
}

PerfShm::~PerfShm() {
  for (const Object& o : objects_) {
    if (o.base) ::munmap(o.base, o.size);
    ::shm_unlink(o.key.c_str());
  }
}

}  // namespace kiln::perf
