// Host <-> CUDA device copies for DLPack tensors. Builds without CUDA answer each with a one-line error.
#pragma once
#include <cstddef>
#include <string>

#include "kiln/status.h"

namespace kiln::py {

// True when this module was built with the CUDA backend.
bool built_with_cuda();
// Copies `bytes` from device memory `src` (on CUDA device `device`) to host `dst`; `what` names it in errors.
Status copy_device_to_host(void* dst, const void* src, size_t bytes, int device, const std::string& what);
// Allocates `bytes` on `device` (*dst, nullptr for 0 bytes) and copies host `src` there.
Status copy_host_to_new_device(const void* src, size_t bytes, int device, void** dst);
// Allocates `bytes` on `device` (*dst, nullptr for 0 bytes) and copies device memory `src` (on the same device)
// there. The copy is complete when this returns (later work on any stream may overwrite `src`).
Status copy_device_to_new_device(const void* src, size_t bytes, int device, void** dst);
// Frees memory from copy_host_to_new_device or copy_device_to_new_device (nullptr: nothing).
void free_device(void* p) noexcept;

}  // namespace kiln::py
