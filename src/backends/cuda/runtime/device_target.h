// The GPU an engine is built for and runs on: description, compatibility keys, and the check at load time.
#pragma once
#include <map>
#include <string>

#include "kiln/status.h"

namespace kiln::cuda {

// Compatibility keys of `device`: gpu_name, gpu_arch ("sm_90"), cuda_runtime, cublaslt, cudnn (versions).
Result<std::map<std::string, std::string>> device_target(int device);
// "NVIDIA H100 80GB HBM3 (sm_90), CUDA 13.0, cuBLASLt 13.1.0, cuDNN 9.19.0"
std::string describe_target(const std::map<std::string, std::string>& target);
// ok when some visible GPU matches the engine's gpu_arch and the library versions; otherwise failed_precondition
// naming what differs. Sets *device to the first matching GPU.
Status check_target(const std::map<std::string, std::string>& engine_target, int* device);
// ok when GPU `device` matches the engine's keys; not_found when it is not visible; otherwise failed_precondition
// naming what differs, with the rebuild hint.
Status check_target_on(const std::map<std::string, std::string>& engine_target, int device);

}  // namespace kiln::cuda
