// System shared-memory regions: POSIX shm objects mapped once at register, refcounted views for requests.
#include "server/shm_registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace kiln::server {

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

}  // namespace

ShmMapping::~ShmMapping() {
  if (base_) ::munmap(base_, map_size_);
}

ServerStatus ShmRegistry::register_region(const std::string& name, const std::string& key, uint64_t offset,
                                          uint64_t byte_size) {
  const std::string where = "system shared memory region '" + name + "'";
  if (name.empty()) return bad("a shared memory region needs a name");
  if (!valid_key(key))
    return bad(where + ": key '" + key + "' is not a POSIX shared memory name (\"/name\" with no other '/')");
  if (byte_size == 0) return bad(where + ": byte_size must be positive");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.count(name)) return bad(where + " is already registered");
  }
  int fd = ::shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0) return bad(where + ": cannot open shared memory key '" + key + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad(where + ": key '" + key + "' is not a shared memory object");
  }
  const uint64_t object_size = static_cast<uint64_t>(st.st_size);
  // Both checks before mmap: a mapping past the object's end would SIGBUS on first touch.
  if (offset > object_size || byte_size > object_size - offset) {
    ::close(fd);
    return bad(where + ": offset " + std::to_string(offset) + " + byte_size " + std::to_string(byte_size) +
               " exceeds the size of '" + key + "' (" + std::to_string(object_size) + " bytes)");
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  const size_t map_size = static_cast<size_t>(byte_size + (offset - aligned));
  void* base = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(aligned));
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the object alive
  if (base == MAP_FAILED) return bad(where + ": cannot map '" + key + "': " + std::strerror(map_errno));
  auto mapping = std::make_shared<ShmMapping>(base, map_size, static_cast<char*>(base) + (offset - aligned),
                                              static_cast<size_t>(byte_size));
  std::lock_guard<std::mutex> lock(mu_);
  if (regions_.count(name)) return bad(where + " is already registered");  // raced another register
  regions_[name] = Region{{name, key, offset, byte_size}, std::move(mapping)};
  return {};
}

ServerStatus ShmRegistry::unregister(const std::string& name) {
  std::map<std::string, Region> dropped;  // unmapped (if no request holds them) outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    dropped.swap(regions_);
  } else {
    auto it = regions_.find(name);
    if (it != regions_.end()) {
      dropped.emplace(it->first, std::move(it->second));
      regions_.erase(it);
    }
  }
  return {};
}

ServerStatus ShmRegistry::status(const std::string& name, std::vector<ShmRegionStatus>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  if (name.empty()) {
    for (const auto& [n, r] : regions_) out->push_back(r.status);
    return {};
  }
  auto it = regions_.find(name);
  if (it == regions_.end()) return bad("unable to find system shared memory region '" + name + "'");
  out->push_back(it->second.status);
  return {};
}

ServerStatus ShmRegistry::view(const std::string& name, uint64_t offset, uint64_t size,
                               std::shared_ptr<const void>* hold, char** data) const {
  std::shared_ptr<ShmMapping> mapping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(name);
    if (it == regions_.end()) return bad("unable to find system shared memory region '" + name + "'");
    mapping = it->second.mapping;
  }
  if (offset > mapping->size() || size > mapping->size() - offset)
    return bad("shared memory region '" + name + "': offset " + std::to_string(offset) + " + byte size " +
               std::to_string(size) + " exceeds the region's byte_size " + std::to_string(mapping->size()));
  *data = mapping->data() + offset;
  *hold = std::move(mapping);
  return {};
}

ServerStatus resolve_shared_memory(const ShmRegistry& registry, InferRequest* request) {
  std::string region;
  uint64_t offset = 0, size = 0;
  for (InferTensor& t : request->inputs) {
    const std::string where = "input '" + t.name + "'";
    ServerStatus st = shm_params(t.parameters, where, &region, &offset, &size);
    if (!st.ok()) return st;
    if (region.empty()) continue;
    if (!t.data.empty() || t.view) return bad(where + " has both tensor data and shared_memory_region");
    char* data = nullptr;
    st = registry.view(region, offset, size, &t.hold, &data);
    if (!st.ok()) return bad(where + ": " + st.message);
    t.view = data;
    t.view_size = static_cast<size_t>(size);  // checked against the shape and datatype by the server's validation
  }
  for (RequestedOutput& o : request->outputs) {
    const std::string where = "output '" + o.name + "'";
    ServerStatus st = shm_params(o.parameters, where, &region, &offset, &size);
    if (!st.ok()) return st;
    if (region.empty()) continue;
    st = registry.view(region, offset, size, &o.shm_hold, &o.shm_dst);
    if (!st.ok()) return bad(where + ": " + st.message);
    o.shm_size = static_cast<size_t>(size);
    o.shm_region = region;
    o.shm_offset = offset;
  }
  return {};
}

}  // namespace kiln::server
