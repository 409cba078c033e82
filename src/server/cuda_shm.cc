// CUDA IPC plumbing for the CUDA shared-memory extension: cudaIpcOpenMemHandle / cudaIpcCloseMemHandle and
// host<->device copies on per-thread non-blocking streams. Without KILN_HAVE_CUDA every entry point says so.
#include "server/cuda_shm.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <vector>
#endif

namespace kiln::server {

#ifndef KILN_HAVE_CUDA

bool cuda_shm_supported(std::string* why) {
  if (why) *why = "kiln was built without CUDA";
  return false;
}
ServerStatus cuda_ipc_open(const std::string& where, const std::string&, int, uint64_t, void**) {
  return server_error(ServerCode::kInvalidArgument, "CUDA shared memory is not available: kiln was built without CUDA");
}
void cuda_ipc_close(void*, int) {}
bool cuda_copy(void*, const void*, size_t, bool, int, std::string* error) {
  *error = "kiln was built without CUDA";
  return false;
}
bool cuda_copy_on_devices(void*, const void*, size_t, int, std::string* error) {
  *error = "kiln was built without CUDA";
  return false;
}
bool cuda_gather(const std::vector<GatherPart>&, size_t, size_t, int, DeviceBatchBuffer*, std::string* error) {
  *error = "kiln was built without CUDA";
  return false;
}

#else

namespace {

// Restores the calling thread's current device on scope exit (front-end threads may also run CUDA work).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&prev_) != cudaSuccess) prev_ = -1;
    ok_ = cudaSetDevice(device) == cudaSuccess;
  }
  ~DeviceScope() {
    if (prev_ >= 0) cudaSetDevice(prev_);
  }
  bool ok() const { return ok_; }

 private:
  int prev_ = -1;
  bool ok_ = false;
};

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error so later calls start clean
      return 0;
    }
    return n;
  }();
  return count;
}

// cuMemGetAddressRange from the driver (no link-time dependency on libcuda): the exported allocation's extent.
using GetAddressRange = int (*)(unsigned long long* base, size_t* size, unsigned long long ptr);
GetAddressRange address_range_fn() {
  static const GetAddressRange fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<GetAddressRange>(p);
  }();
  return fn;
}

// One non-blocking stream per (thread, device), created on first use and deliberately never destroyed (a stream
// destroyed from a thread_local destructor after the CUDA runtime shut down would crash at exit).
cudaStream_t thread_stream(int device) {
  thread_local std::vector<cudaStream_t>* streams = new std::vector<cudaStream_t>();
  if (static_cast<size_t>(device) >= streams->size()) streams->resize(device + 1, nullptr);
  cudaStream_t& s = (*streams)[device];
  if (!s && cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) s = nullptr;
  return s;
}

ServerStatus bad(std::string message) { return server_error(ServerCode::kInvalidArgument, std::move(message)); }

}  // namespace

bool cuda_shm_supported(std::string* why) {
  if (device_count() > 0) return true;
  if (why) *why = "no CUDA device is visible to the server";
  return false;
}

ServerStatus cuda_ipc_open(const std::string& where, const std::string& raw_handle, int device, uint64_t byte_size,
                           void** ptr) {
  std::string why;
  if (!cuda_shm_supported(&why)) return bad("CUDA shared memory is not available: " + why);
  if (device < 0 || device >= device_count())
    return bad(where + ": device_id " + std::to_string(device) + " is not a CUDA device of this server (it has " +
               std::to_string(device_count()) + ")");
  cudaIpcMemHandle_t handle;
  if (raw_handle.size() != sizeof(handle))
    return bad(where + ": raw_handle must be a " + std::to_string(sizeof(handle)) + "-byte cudaIpcMemHandle_t, got " +
               std::to_string(raw_handle.size()) + " bytes");
  std::memcpy(&handle, raw_handle.data(), sizeof(handle));
  DeviceScope scope(device);
  if (!scope.ok()) return bad(where + ": cannot use CUDA device " + std::to_string(device));
  void* p = nullptr;
  cudaError_t e = cudaIpcOpenMemHandle(&p, handle, cudaIpcMemLazyEnablePeerAccess);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return bad(where + ": cannot open the CUDA IPC handle on device " + std::to_string(device) + ": " +
               cudaGetErrorString(e));
  }
  // The window must lie inside the exported allocation: writing past it would fault the server's CUDA context.
  GetAddressRange range = address_range_fn();
  unsigned long long base = 0;
  size_t size = 0;
  const unsigned long long at = reinterpret_cast<unsigned long long>(p);
  if (!range || range(&base, &size, at) != 0) {
    cudaIpcCloseMemHandle(p);
    return bad(where + ": cannot query the size of the CUDA allocation behind the handle");
  }
  if (at < base || byte_size > size - (at - base)) {
    cudaIpcCloseMemHandle(p);
    return bad(where + ": byte_size " + std::to_string(byte_size) + " exceeds the CUDA allocation (" +
               std::to_string(size - (at - base)) + " bytes)");
  }
  *ptr = p;
  return {};
}

void cuda_ipc_close(void* ptr, int device) {
  DeviceScope scope(device);
  cudaError_t e = cudaIpcCloseMemHandle(ptr);
  if (e != cudaSuccess) {
    cudaGetLastError();
    log_json("warning", std::string("cudaIpcCloseMemHandle failed: ") + cudaGetErrorString(e),
             {{"device", std::to_string(device)}});
  }
}

namespace {

// A synchronous copy of `kind` on the calling thread's stream of `device`.
bool copy_on_thread_stream(void* dst, const void* src, size_t n, cudaMemcpyKind kind, int device, std::string* error) {
  if (n == 0) return true;
  DeviceScope scope(device);
  cudaStream_t s = scope.ok() ? thread_stream(device) : nullptr;
  if (!s) {
    *error = "cannot use CUDA device " + std::to_string(device);
    return false;
  }
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, s);
  if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  if (e != cudaSuccess) {
    cudaGetLastError();
    *error = cudaGetErrorString(e);
    return false;
  }
  return true;
}

}  // namespace

bool cuda_copy(void* dst, const void* src, size_t n, bool to_device, int device, std::string* error) {
  return copy_on_thread_stream(dst, src, n, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, device, error);
}

bool cuda_copy_on_devices(void* dst, const void* src, size_t n, int device, std::string* error) {
  return copy_on_thread_stream(dst, src, n, cudaMemcpyDefault, device, error);
}

bool cuda_gather(const std::vector<GatherPart>& parts, size_t total, size_t reserve, int device,
                 DeviceBatchBuffer* buffer, std::string* error) {
  DeviceScope scope(device);
  cudaStream_t s = scope.ok() ? thread_stream(device) : nullptr;
  if (!s) {
    *error = "cannot use CUDA device " + std::to_string(device);
    return false;
  }
  auto failed = [&](cudaError_t e) {
    cudaGetLastError();
    *error = cudaGetErrorString(e);
    return false;
  };
  if (!buffer->memory || buffer->capacity < total || buffer->device != device) {
    buffer->memory.reset();  // the old buffer goes first: both may not fit at once
    buffer->capacity = 0;
    const size_t bytes = std::max<size_t>({total, reserve, 1});
    void* p = nullptr;
    if (cudaError_t e = cudaMalloc(&p, bytes); e != cudaSuccess) return failed(e);
    buffer->memory = std::shared_ptr<void>(p, [device](void* q) {
      DeviceScope free_scope(device);
      cudaFree(q);
    });
    buffer->capacity = bytes;
    buffer->device = device;
  }
  char* dst = static_cast<char*>(buffer->memory.get());
  size_t off = 0;
  for (const GatherPart& part : parts) {
    if (part.size > total - off) {
      *error = "input parts exceed the batch tensor";
      return false;
    }
    // Host parts are pageable (the request's bytes): the copy stages them; device parts may be on another GPU.
    if (part.size)
      if (cudaError_t e = cudaMemcpyAsync(dst + off, part.src, part.size, cudaMemcpyDefault, s); e != cudaSuccess)
        return failed(e);
    off += part.size;
  }
  if (off < total)
    if (cudaError_t e = cudaMemsetAsync(dst + off, 0, total - off, s); e != cudaSuccess) return failed(e);
  if (cudaError_t e = cudaStreamSynchronize(s); e != cudaSuccess) return failed(e);
  return true;
}

#endif  // KILN_HAVE_CUDA

}  // namespace kiln::server
