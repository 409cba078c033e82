// NVML via dlopen("libnvidia-ml.so.1"): only the handful of entry points the metrics need.
#include "server/gpu_monitor.h"

#include <dlfcn.h>

#include <mutex>

namespace kiln::server {

namespace {

struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};
using Device = void*;

struct Nvml {
  bool ok = false;
  int (*init)() = nullptr;
  int (*count)(unsigned int*) = nullptr;
  int (*handle)(unsigned int, Device*) = nullptr;
  int (*name)(Device, char*, unsigned int) = nullptr;
  int (*uuid)(Device, char*, unsigned int) = nullptr;
  int (*memory)(Device, NvmlMemory*) = nullptr;
  int (*utilization)(Device, NvmlUtilization*) = nullptr;
  int (*driver)(char*, unsigned int) = nullptr;
};

const Nvml& nvml() {
  static Nvml n;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    auto sym = [&](const char* s) { return ::dlsym(lib, s); };
    n.init = reinterpret_cast<int (*)()>(sym("nvmlInit_v2"));
    n.count = reinterpret_cast<int (*)(unsigned int*)>(sym("nvmlDeviceGetCount_v2"));
    n.handle = reinterpret_cast<int (*)(unsigned int, Device*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
    n.name = reinterpret_cast<int (*)(Device, char*, unsigned int)>(sym("nvmlDeviceGetName"));
    n.uuid = reinterpret_cast<int (*)(Device, char*, unsigned int)>(sym("nvmlDeviceGetUUID"));
    n.memory = reinterpret_cast<int (*)(Device, NvmlMemory*)>(sym("nvmlDeviceGetMemoryInfo"));
    n.utilization = reinterpret_cast<int (*)(Device, NvmlUtilization*)>(sym("nvmlDeviceGetUtilizationRates"));
    n.driver = reinterpret_cast<int (*)(char*, unsigned int)>(sym("nvmlSystemGetDriverVersion"));
    n.ok = n.init && n.count && n.handle && n.name && n.memory && n.utilization && n.init() == 0;
  });
  return n;
}

}  // namespace

std::vector<GpuSample> sample_gpus() {
  std::vector<GpuSample> out;
  const Nvml& n = nvml();
  if (!n.ok) return out;
  unsigned int count = 0;
  if (n.count(&count) != 0) return out;
  for (unsigned int i = 0; i < count; ++i) {
    Device d = nullptr;
    if (n.handle(i, &d) != 0) continue;
    GpuSample s;
    s.index = static_cast<int>(i);
    char buf[96] = {0};
    if (n.name(d, buf, sizeof buf) == 0) s.name = buf;
    char ubuf[96] = {0};
    if (n.uuid && n.uuid(d, ubuf, sizeof ubuf) == 0) s.uuid = ubuf;
    NvmlMemory mem{};
    if (n.memory(d, &mem) == 0) {
      s.memory_total_bytes = mem.total;
      s.memory_used_bytes = mem.used;
    }
    NvmlUtilization u{};
    if (n.utilization(d, &u) == 0) s.utilization = u.gpu / 100.0;
    out.push_back(std::move(s));
  }
  return out;
}

std::string gpu_description() {
  auto gpus = sample_gpus();
  if (gpus.empty()) return "cuda:unknown";
  char drv[96] = {0};
  const Nvml& n = nvml();
  if (n.driver) n.driver(drv, sizeof drv);
  return "cuda:" + gpus[0].name + "/driver " + drv;
}

}  // namespace kiln::server
