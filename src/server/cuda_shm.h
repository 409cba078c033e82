// CUDA IPC plumbing for the CUDA shared-memory extension (shm_registry.h): open/close a client's
// cudaIpcMemHandle_t and copy between host memory and a region. Builds without CUDA get stubs that say so.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/inference_server.h"

namespace kiln::server {

// True when this build has CUDA and the host has at least one device; otherwise *why (if given) holds the
// reason, phrased to follow "CUDA shared memory is not available: ".
bool cuda_shm_supported(std::string* why = nullptr);

// Opens raw_handle (a cudaIpcMemHandle_t, exactly 64 bytes) on device `device` and checks that the exported
// allocation holds at least byte_size bytes from the handle's address. *ptr is the device address.
// kInvalidArgument with a message prefixed by `where` on any failure; nothing stays open then.
ServerStatus cuda_ipc_open(const std::string& where, const std::string& raw_handle, int device, uint64_t byte_size,
                           void** ptr);
// Closes a handle opened by cuda_ipc_open (errors are logged, never thrown).
void cuda_ipc_close(void* ptr, int device);

// Synchronous copy between host memory and device memory on `device`, on a non-blocking stream of the calling
// thread (never the legacy default stream, which would wait for the engines' streams). to_device: host src ->
// device dst; else device src -> host dst. false with *error set when CUDA reports a failure.
bool cuda_copy(void* dst, const void* src, size_t n, bool to_device, int device, std::string* error);

// Synchronous device-to-device copy (dst and src CUDA device memory, possibly on two GPUs), on a non-blocking stream
// of the calling thread on `device`. false with *error set when CUDA reports a failure.
bool cuda_copy_on_devices(void* dst, const void* src, size_t n, int device, std::string* error);

// One part of a batch input gathered on a GPU: `size` bytes at `src`, a host address, or an address in CUDA device
// memory (a CUDA shared-memory input) when on_device.
struct GatherPart {
  const void* src = nullptr;
  size_t size = 0;
  bool on_device = false;
};
// A grow-only device buffer (one per instance and input); the memory is freed when its last owner goes away.
struct DeviceBatchBuffer {
  std::shared_ptr<void> memory;
  size_t capacity = 0;  // bytes
  int device = -1;
};
// Copies `parts` back to back into `buffer` on `device` (reallocated there when smaller than `total` bytes, then
// with max(total, reserve) bytes), zero-fills the rest of the first `total` bytes, and waits for the copies (on a
// non-blocking stream of the calling thread). Device parts are copied device-to-device (between GPUs when they lie
// on another one), never through the host. false with *error set on a CUDA failure or when the parts exceed total.
bool cuda_gather(const std::vector<GatherPart>& parts, size_t total, size_t reserve, int device,
                 DeviceBatchBuffer* buffer, std::string* error);

}  // namespace kiln::server

// ---- HTTP routes of the CUDA shared-memory extension (cuda_shm_http.cc) ----
namespace kiln::server {
// v2/cudasharedmemory[/region/NAME]/status (GET): [{"name","device_id","byte_size"}];
// v2/cudasharedmemory/region/NAME/register (POST {"raw_handle": {"b64": "..."}, "device_id": D, "byte_size": N});
// v2/cudasharedmemory[/region/NAME]/unregister (POST). seg: the path's segments (seg[1] == "cudasharedmemory");
// body: the request body. Sets *code (200, 400, 404, 405) and *out (the JSON reply; errors {"error": "..."}).
void handle_cuda_shm_http(InferenceServer& server, const std::vector<std::string>& seg, bool get, bool post,
                          std::string_view body, int* code, std::string* out);
}  // namespace kiln::server
