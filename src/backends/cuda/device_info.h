// CUDA device discovery: what GPUs this process can use (empty when none or no driver).
#pragma once
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  size_t total_memory = 0;
};

// Lists devices; an empty list (not an error) when no GPU or driver is present. (The public API's
// kiln::cuda_device_count() and kiln::cuda_device(i) in kiln/engine.h are implemented in device_info.cc too.)
std::vector<CudaDeviceInfo> cuda_devices();
// Runs a tiny kernel on `device` and checks its result: proves the toolchain/driver pair works.
Status cuda_self_test(int device);

}  // namespace kiln
