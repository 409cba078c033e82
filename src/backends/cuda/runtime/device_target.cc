// Reading the device and library versions that a GPU engine depends on.
#include "backends/cuda/runtime/device_target.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace kiln::cuda {

namespace {

std::string version3(size_t v, size_t major_div, size_t minor_div) {
  return std::to_string(v / major_div) + "." + std::to_string((v % major_div) / minor_div) + "." +
         std::to_string(v % minor_div);
}

}  // namespace

Result<std::map<std::string, std::string>> device_target(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return not_found(
        "--device cuda: no CUDA GPU is visible on this machine (building a GPU engine times kernels on "
        "the GPU it will run on)");
  }
  if (device < 0 || device >= count)
    return not_found("--gpu " + std::to_string(device) + ": only " + std::to_string(count) + " GPU(s) visible");
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return internal_error("cannot read GPU properties");
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  std::map<std::string, std::string> t;
  t["gpu_name"] = p.name;
  t["gpu_arch"] = "sm_" + std::to_string(p.major) + std::to_string(p.minor);
  t["cuda_runtime"] = std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
  t["cublaslt"] = version3(cublasLtGetVersion(), 10000, 100);
  t["cudnn"] = version3(cudnnGetVersion(), 10000, 100);
  return t;
}

std::string describe_target(const std::map<std::string, std::string>& t) {
  auto get = [&](const char* k) {
    auto it = t.find(k);
    return it == t.end() ? std::string("?") : it->second;
  };
  return get("gpu_name") + " (" + get("gpu_arch") + "), CUDA " + get("cuda_runtime") + ", cuBLASLt " + get("cublaslt") +
         ", cuDNN " + get("cudnn");
}

namespace {

// The engine keys that `have` differs in ("gpu_arch sm_90 vs sm_80, ..."); empty when it can run the engine.
std::string target_diff(const std::map<std::string, std::string>& want,
                        const std::map<std::string, std::string>& have) {
  std::string diff;
  for (const char* k : {"gpu_arch", "cuda_runtime", "cublaslt", "cudnn"}) {
    auto a = want.find(k);
    auto b = have.find(k);
    if (a == want.end()) continue;
    if (b == have.end() || a->second != b->second)
      diff +=
          std::string(diff.empty() ? "" : ", ") + k + " " + a->second + " vs " + (b == have.end() ? "?" : b->second);
  }
  return diff;
}

Status cannot_run(const std::map<std::string, std::string>& want, const std::string& seen) {
  return failed_precondition("this engine was built for " + describe_target(want) + " and cannot run on " + seen +
                             "; rebuild it on this machine: kiln build <model.onnx> --device cuda -o <engine>");
}

Status no_gpu(const std::map<std::string, std::string>& want) {
  return failed_precondition("this engine was built for " + describe_target(want) +
                             " but no CUDA GPU is visible here; run it on such a GPU or rebuild it with --device cpu");
}

}  // namespace

Status check_target(const std::map<std::string, std::string>& want, int* device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return no_gpu(want);
  }
  std::string seen;
  for (int d = 0; d < count; ++d) {
    auto have = device_target(d);
    if (!have.ok()) continue;
    std::string diff = target_diff(want, *have);
    if (diff.empty()) {
      *device = d;
      return ok_status();
    }
    if (seen.empty()) seen = "GPU " + std::to_string(d) + " " + describe_target(*have) + " (" + diff + ")";
  }
  return cannot_run(want, seen);
}

Status check_target_on(const std::map<std::string, std::string>& want, int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return no_gpu(want);
  }
  if (device < 0 || device >= count)
    return not_found("GPU " + std::to_string(device) + " does not exist: " + std::to_string(count) + " GPU(s) visible");
  KILN_ASSIGN_OR_RETURN(auto have, device_target(device));
  std::string diff = target_diff(want, have);
  if (diff.empty()) return ok_status();
  return cannot_run(want, "GPU " + std::to_string(device) + " " + describe_target(have) + " (" + diff + ")");
}

}  // namespace kiln::cuda
