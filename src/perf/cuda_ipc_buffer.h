// kiln perf --shared-memory cuda: one device allocation exported with a CUDA IPC handle (builds without CUDA get
// stubs that fail with one line).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/status.h"

namespace kiln::perf {

// A cudaMalloc'd buffer on one device and its exported cudaIpcMemHandle_t. Move-only; frees the memory on
// destruction (the server must have closed its mapping first: unregister before destroying).
class CudaIpcBuffer {
 public:
  // Checks that the build has CUDA and that `device` exists (cudaGetDeviceCount), allocates `size` bytes there
  // (at least 1), copies host [init, init + init_bytes) to its start (init_bytes <= size) and exports the handle.
  // kFailedPrecondition with one line, prefixed "--shared-memory cuda: ", on any failure.
  static Result<CudaIpcBuffer> create(int device, size_t size, const void* init, size_t init_bytes);

  CudaIpcBuffer() = default;
  CudaIpcBuffer(CudaIpcBuffer&& o) noexcept { *this = std::move(o); }
  CudaIpcBuffer& operator=(CudaIpcBuffer&& o) noexcept;
  CudaIpcBuffer(const CudaIpcBuffer&) = delete;
  CudaIpcBuffer& operator=(const CudaIpcBuffer&) = delete;
  ~CudaIpcBuffer();  // cudaFree (errors ignored)

  int device() const { return device_; }
  size_t size() const { return size_; }
  // The 64 bytes of the cudaIpcMemHandle_t, as the CUDA shared-memory extension's raw_handle carries them.
  const std::string& raw_handle() const { return handle_; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
  int device_ = -1;
  std::string handle_;
};

}  // namespace kiln::perf
