// Shared-memory regions: POSIX shm objects mapped once at register (and CUDA IPC handles opened once), caps and
// trust rules on registration, refcounted views for requests, and SIGBUS-guarded copies from/to the mappings.
#include "server/shm_registry.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>

#include "server/cuda_shm.h"

namespace kiln::server {

// ---- SIGBUS guard ----------------------------------------------------------------------------------------
// A client that ftruncates its shm object smaller after registration leaves our mapping pointing past the
// object's end: touching those pages raises SIGBUS. A process-wide handler turns a SIGBUS raised inside
// guarded_copy() (the faulting thread's tl_guard is armed) into a siglongjmp back to it; any other SIGBUS gets
// the default action (the process dies, as without the handler). An fstat size check alone would be racy.
namespace {

thread_local sigjmp_buf* volatile tl_guard = nullptr;  // armed only for the duration of one guarded copy
struct sigaction g_previous_sigbus;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* jb = tl_guard) {
    tl_guard = nullptr;
    siglongjmp(*jb, 1);
  }
  // Not ours: hand it to whoever had it before, else die with the default action.
  if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
    if (g_previous_sigbus.sa_sigaction) return g_previous_sigbus.sa_sigaction(sig, info, context);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN &&
             g_previous_sigbus.sa_handler) {
    return g_previous_sigbus.sa_handler(sig);
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

void install_sigbus_handler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sigemptyset(&sa.sa_mask);
    // SA_NODEFER: SIGBUS stays unblocked after we siglongjmp out of the handler, so sigsetjmp need not save the
    // signal mask (no syscall per copy).
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    return ::sigaction(SIGBUS, &sa, &g_previous_sigbus) == 0;
  }();
  (void)installed;
}

}  // namespace

bool guarded_copy(void* dst, const void* src, size_t n) {
  if (n == 0) return true;
  install_sigbus_handler();
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0) != 0) return false;  // the handler jumped here (and disarmed the guard)
  tl_guard = &jb;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the copy stays between arming and disarming
  std::memcpy(dst, src, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tl_guard = nullptr;
  return true;
}

std::string shm_unbacked_message(const std::string& region, const std::string& tensor_where) {
  return "shared memory region '" + region + "' (" + tensor_where +
         ") is no longer backed (the object was truncated): re-create and re-register it";
}

ServerStatus write_shm_output(const RequestedOutput& output, size_t at, const void* src, size_t n, bool src_on_device) {
  const auto* mapping = static_cast<const ShmMapping*>(output.shm_hold.get());
  const std::string where = "output '" + output.name + "'";
  if (at > output.shm_size || n > output.shm_size - at)
    return server_error(ServerCode::kInvalidArgument, where + " does not fit its shared memory window");
  if (src_on_device && !(mapping && mapping->device() >= 0))
    return server_error(ServerCode::kInternal, where + ": a device-resident output needs a CUDA region");
  if (mapping && mapping->device() >= 0) {
    std::string error;
    const bool copied = src_on_device ? cuda_copy_on_devices(output.shm_dst + at, src, n, mapping->device(), &error)
                                      : cuda_copy(output.shm_dst + at, src, n, /*to_device=*/true, mapping->device(),
                                                  &error);
    if (!copied)
      return server_error(ServerCode::kInvalidArgument, "CUDA shared memory region '" + output.shm_region + "' (" +
                                                            where + "): copy to the device failed: " + error);
    return {};
  }
  if (!guarded_copy(output.shm_dst + at, src, n))
    return server_error(ServerCode::kInvalidArgument, shm_unbacked_message(output.shm_region, where));
  return {};
}

// ---- Registry ----------------------------------------------------------------------------------------------
namespace {

ServerStatus bad(std::string message) { return server_error(ServerCode::kInvalidArgument, std::move(message)); }

// A POSIX shm name: "/" then 1..NAME_MAX-1 characters, none of them '/' or NUL. Anything else (a path such as
// "/dev/sda", "../x", "/a/b") is refused before shm_open sees it, so a request can never name a file.
bool valid_key(const std::string& key) {
  if (key.size() < 2 || key.size() > NAME_MAX || key[0] != '/') return false;
  for (size_t i = 1; i < key.size(); ++i)
    if (key[i] == '/' || key[i] == '\0') return false;
  return key != "/." && key != "/..";
}

// Integer parameter; *present false when absent. Wrong types are errors.
ServerStatus uint_param(const Parameters& p, const char* key, const std::string& where, uint64_t* out, bool* present) {
  auto it = p.find(key);
  *present = it != p.end();
  if (!*present) return {};
  if (auto* i = std::get_if<int64_t>(&it->second)) {
    if (*i < 0) return bad(where + ": " + key + " must be a non-negative integer");
    *out = static_cast<uint64_t>(*i);
    return {};
  }
  return bad(where + ": " + key + " must be an integer");
}

// Reads a tensor's shared_memory_* parameters. *region "" = the tensor does not use shared memory.
ServerStatus shm_params(const Parameters& p, const std::string& where, std::string* region, uint64_t* offset,
                        uint64_t* size) {
  region->clear();
  auto it = p.find("shared_memory_region");
  bool has_size, has_offset;
  *offset = 0;
  ServerStatus st = uint_param(p, "shared_memory_byte_size", where, size, &has_size);
  if (!st.ok()) return st;
  st = uint_param(p, "shared_memory_offset", where, offset, &has_offset);
  if (!st.ok()) return st;
  if (it == p.end()) {
    if (has_size || has_offset)
      return bad(where + ": shared_memory_byte_size/offset given without shared_memory_region");
    return {};
  }
  auto* name = std::get_if<std::string>(&it->second);
  if (!name || name->empty()) return bad(where + ": shared_memory_region must be a non-empty string");
  if (!has_size) return bad(where + ": shared_memory_region '" + *name + "' needs shared_memory_byte_size");
  *region = *name;
  return {};
}

ServerStatus out_of_memory(const std::string& what) {
  return server_error(ServerCode::kInternal, what + ": out of memory");
}

}  // namespace

ShmRegistry::ShmRegistry() { install_sigbus_handler(); }

void ShmRegistry::configure(const ShmOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  options_ = options;
}

std::vector<std::string> ShmRegistry::extensions() const {
  std::vector<std::string> out;
  if (options_.system) out.push_back("system_shared_memory");
  if (options_.cuda && cuda_shm_supported()) out.push_back("cuda_shared_memory");
  return out;
}

ServerStatus ShmRegistry::check_caps_locked(const std::string& where, uint64_t byte_size) const {
  if (regions_.size() >= options_.max_regions)
    return bad(where + ": the server already has " + std::to_string(regions_.size()) +
               " shared memory regions registered, the limit set by --shm-max-regions (" +
               std::to_string(options_.max_regions) + "); unregister some first");
  if (byte_size > options_.max_bytes || total_bytes_ > options_.max_bytes - byte_size)
    return bad(where + ": byte_size " + std::to_string(byte_size) + " would bring the registered shared memory to " +
               std::to_string(total_bytes_ + byte_size) + " bytes, over the limit set by --shm-max-bytes (" +
               std::to_string(options_.max_bytes) + ")");
  return {};
}

ServerStatus ShmRegistry::insert(const std::string& where, Region region) {
  std::lock_guard<std::mutex> lock(mu_);
  if (regions_.count(region.status.name)) return bad(where + " is already registered");  // raced a register
  ServerStatus st = check_caps_locked(where, region.status.byte_size);
  if (!st.ok()) return st;
  total_bytes_ += region.status.byte_size;
  std::string name = region.status.name;
  regions_.emplace(std::move(name), std::move(region));
  return {};
}

void ShmRegistry::drop(bool cuda, const std::string& name) {
  std::vector<Region> dropped;  // released (if no request holds them) outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = regions_.begin(); it != regions_.end();) {
    if (it->second.cuda == cuda && (name.empty() || it->first == name)) {
      total_bytes_ -= it->second.status.byte_size;
      dropped.push_back(std::move(it->second));
      it = regions_.erase(it);
    } else {
      ++it;
    }
  }
}

ServerStatus ShmRegistry::register_region(const std::string& name, const std::string& key, uint64_t offset,
                                          uint64_t byte_size) try {
  const std::string where = "system shared memory region '" + name + "'";
  if (!options_.system)
    return bad(options_.cuda ? "system shared memory is disabled on this server (--shared-memory cuda)"
                             : "shared memory is disabled on this server");
  if (name.empty()) return bad("a shared memory region needs a name");
  if (!valid_key(key))
    return bad(where + ": key '" + key + "' is not a POSIX shared memory name (\"/name\" with no other '/')");
  if (key.compare(1, options_.key_prefix.size(), options_.key_prefix) != 0)
    return bad(where + ": key '" + key + "' does not start with \"/" + options_.key_prefix +
               "\" (this server only registers keys with that prefix: --shm-key-prefix)");
  if (byte_size == 0) return bad(where + ": byte_size must be positive");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.count(name)) return bad(where + " is already registered");
    ServerStatus st = check_caps_locked(where, byte_size);
    if (!st.ok()) return st;
  }
  // O_NOFOLLOW: a symlink planted in /dev/shm must not redirect us to another file.
  int fd = ::shm_open(key.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (fd < 0) return bad(where + ": cannot open shared memory key '" + key + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad(where + ": key '" + key + "' is not a regular shared memory object");
  }
  // Same-uid only: a client may hand the server its own memory, never another user's.
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return bad(where + ": key '" + key + "' is owned by uid " + std::to_string(st.st_uid) +
               ", not by the server's uid " + std::to_string(::geteuid()) +
               "; only the server's own objects can be registered");
  }
  const uint64_t object_size = static_cast<uint64_t>(st.st_size);
  // Both checks before mmap: a mapping past the object's end would SIGBUS on first touch.
  if (offset > object_size || byte_size > object_size - offset) {
    ::close(fd);
    return bad(where + ": offset " + std::to_string(offset) + " + byte_size " + std::to_string(byte_size) +
               " exceeds the size of '" + key + "' (" + std::to_string(object_size) + " bytes)");
  }
  // Only the registered window is mapped (from its page-aligned start), never the whole object.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  const size_t map_size = static_cast<size_t>(byte_size + (offset - aligned));
  void* base = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(aligned));
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the object alive
  if (base == MAP_FAILED) return bad(where + ": cannot map '" + key + "': " + std::strerror(map_errno));
  Region region;
  region.status = {name, key, offset, byte_size};
  region.mapping =
      std::make_shared<ShmMapping>(name, static_cast<char*>(base) + (offset - aligned), static_cast<size_t>(byte_size),
                                   -1, [base, map_size] { ::munmap(base, map_size); });
  return insert(where, std::move(region));
} catch (const std::bad_alloc&) {
  return out_of_memory("registering system shared memory region '" + name + "'");
}

ServerStatus ShmRegistry::unregister(const std::string& name) try {
  drop(/*cuda=*/false, name);
  return {};
} catch (const std::bad_alloc&) {
  return out_of_memory("unregistering system shared memory");
}

ServerStatus ShmRegistry::status(const std::string& name, std::vector<ShmRegionStatus>* out) const try {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  if (name.empty()) {
    for (const auto& [n, r] : regions_)
      if (!r.cuda) out->push_back(r.status);
    return {};
  }
  auto it = regions_.find(name);
  if (it == regions_.end() || it->second.cuda) return bad("unable to find system shared memory region '" + name + "'");
  out->push_back(it->second.status);
  return {};
} catch (const std::bad_alloc&) {
  return out_of_memory("system shared memory status");
}

ServerStatus ShmRegistry::register_cuda_region(const std::string& name, const std::string& raw_handle,
                                               int64_t device_id, uint64_t byte_size) try {
  const std::string where = "CUDA shared memory region '" + name + "'";
  std::string why;
  if (!options_.cuda)
    return bad(options_.system
                   ? "CUDA shared memory is not available: it is disabled on this server (--shared-memory system)"
                   : "shared memory is disabled on this server");
  if (!cuda_shm_supported(&why)) return bad("CUDA shared memory is not available: " + why);
  if (name.empty()) return bad("a shared memory region needs a name");
  if (byte_size == 0) return bad(where + ": byte_size must be positive");
  if (device_id < 0 || device_id > INT_MAX)
    return bad(where + ": device_id " + std::to_string(device_id) + " is invalid");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.count(name)) return bad(where + " is already registered");
    ServerStatus st = check_caps_locked(where, byte_size);
    if (!st.ok()) return st;
  }
  void* ptr = nullptr;
  const int device = static_cast<int>(device_id);
  ServerStatus st = cuda_ipc_open(where, raw_handle, device, byte_size, &ptr);
  if (!st.ok()) return st;
  Region region;
  region.cuda = true;
  region.status = {name, "", 0, byte_size};
  region.device_id = device_id;
  region.mapping = std::make_shared<ShmMapping>(name, static_cast<char*>(ptr), static_cast<size_t>(byte_size), device,
                                                [ptr, device] { cuda_ipc_close(ptr, device); });
  return insert(where, std::move(region));
} catch (const std::bad_alloc&) {
  return out_of_memory("registering CUDA shared memory region '" + name + "'");
}

ServerStatus ShmRegistry::unregister_cuda(const std::string& name) try {
  drop(/*cuda=*/true, name);
  return {};
} catch (const std::bad_alloc&) {
  return out_of_memory("unregistering CUDA shared memory");
}

ServerStatus ShmRegistry::cuda_status(const std::string& name, std::vector<CudaShmRegionStatus>* out) const try {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  for (const auto& [n, r] : regions_) {
    if (!r.cuda || (!name.empty() && n != name)) continue;
    out->push_back({n, r.device_id, r.status.byte_size});
  }
  if (!name.empty() && out->empty()) return bad("unable to find CUDA shared memory region '" + name + "'");
  return {};
} catch (const std::bad_alloc&) {
  return out_of_memory("CUDA shared memory status");
}

ServerStatus ShmRegistry::view(const std::string& name, uint64_t offset, uint64_t size,
                               std::shared_ptr<const ShmMapping>* out) const {
  std::shared_ptr<ShmMapping> mapping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(name);
    if (it == regions_.end()) return bad("unable to find shared memory region '" + name + "'");
    mapping = it->second.mapping;
  }
  if (offset > mapping->size() || size > mapping->size() - offset)
    return bad("shared memory region '" + name + "': offset " + std::to_string(offset) + " + byte size " +
               std::to_string(size) + " exceeds the region's byte_size " + std::to_string(mapping->size()));
  *out = std::move(mapping);
  return {};
}

namespace {

// A truncated object shows as a SIGBUS on its pages past the new end: reading the window's last byte (guarded)
// tells whether the whole window [0, end) is still backed. The copies themselves stay guarded (the object may
// shrink between this probe and the copy).
bool window_backed(const char* data, size_t size) {
  char probe;
  return size == 0 || guarded_copy(&probe, data + size - 1, 1);
}

}  // namespace

ServerStatus resolve_shared_memory(const ShmRegistry& registry, InferRequest* request) try {
  std::string region;
  uint64_t offset = 0, size = 0;
  for (InferTensor& t : request->inputs) {
    const std::string where = "input '" + t.name + "'";
    ServerStatus st = shm_params(t.parameters, where, &region, &offset, &size);
    if (!st.ok()) return st;
    if (region.empty()) continue;
    if (!t.data.empty() || t.view) return bad(where + " has both tensor data and shared_memory_region");
    std::shared_ptr<const ShmMapping> mapping;
    st = registry.view(region, offset, size, &mapping);
    if (!st.ok()) return bad(where + ": " + st.message);
    const char* data = mapping->data() + offset;
    if (mapping->device() >= 0 && t.dtype != DType::kString) {
      // CUDA: the request keeps the device address (and the open handle); the scheduler copies the bytes device to
      // device into a GPU instance's batch (device-to-host only for CPU instances).
      t.view = data;
      t.view_size = static_cast<size_t>(size);
      t.view_device = mapping->device();
      t.hold = std::move(mapping);
      continue;
    }
    if (mapping->device() >= 0) {  // CUDA BYTES: parsed on the host, from one device-to-host copy
      t.data.resize(static_cast<size_t>(size));
      std::string error;
      if (!cuda_copy(t.data.data(), data, t.data.size(), /*to_device=*/false, mapping->device(), &error))
        return bad("CUDA shared memory region '" + region + "' (" + where + "): copy from the device failed: " + error);
      continue;
    }
    if (!window_backed(data, static_cast<size_t>(size))) return bad(shm_unbacked_message(region, where));
    if (t.dtype == DType::kString) {  // BYTES: validated and read from one private copy the client cannot change
      t.data.resize(static_cast<size_t>(size));
      if (!guarded_copy(t.data.data(), data, t.data.size())) return bad(shm_unbacked_message(region, where));
      continue;
    }
    t.view = data;
    t.view_size = static_cast<size_t>(size);  // checked against the shape and datatype by the server's validation
    t.hold = std::move(mapping);
  }
  for (RequestedOutput& o : request->outputs) {
    const std::string where = "output '" + o.name + "'";
    ServerStatus st = shm_params(o.parameters, where, &region, &offset, &size);
    if (!st.ok()) return st;
    if (region.empty()) continue;
    std::shared_ptr<const ShmMapping> mapping;
    st = registry.view(region, offset, size, &mapping);
    if (!st.ok()) return bad(where + ": " + st.message);
    char* data = mapping->data() + offset;
    if (mapping->device() < 0 && !window_backed(data, static_cast<size_t>(size)))
      return bad(shm_unbacked_message(region, where));
    o.shm_dst = data;
    o.shm_device = mapping->device();
    o.shm_hold = std::move(mapping);  // write_shm_output() relies on shm_hold pointing to this ShmMapping
    o.shm_size = static_cast<size_t>(size);
    o.shm_region = region;
    o.shm_offset = offset;
  }
  return {};
} catch (const std::bad_alloc&) {
  return out_of_memory("resolving shared memory parameters");
}

}  // namespace kiln::server
