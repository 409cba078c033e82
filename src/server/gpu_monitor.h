// GPU utilization and memory through NVML, loaded with dlopen so hosts without a driver simply have no GPU metrics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::server {

struct GpuSample {
  int index = 0;
  std::string name;
  std::string uuid;
  uint64_t memory_total_bytes = 0;
  uint64_t memory_used_bytes = 0;
  double utilization = 0;  // 0..1
};

// Empty when libnvidia-ml.so.1 is absent or reports no device.
std::vector<GpuSample> sample_gpus();
// "cuda:<name of GPU 0>/driver <version>", or "cuda:unknown" without NVML (a description for logs; engine cache
// keys use each device's compatibility key, kiln::cuda_device(i).compat_key()).
std::string gpu_description();

}  // namespace kiln::server
