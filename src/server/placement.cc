// Instance placement: config instance groups + visible GPU count -> the execution contexts to create.
#include "server/placement.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "kiln/engine.h"

namespace kiln::server {

namespace {

Status field_error(const std::string& origin, const std::string& field, const std::string& what) {
  return invalid_argument(origin + ": field " + field + ": " + what);
}

}  // namespace

Result<std::vector<PlacedInstance>> place_instances(const std::vector<InstanceGroupSpec>& groups, int gpu_count,
                                                    const std::string& origin) {
  std::vector<PlacedInstance> flat;
  if (groups.empty()) return std::vector<PlacedInstance>{PlacedInstance{0, -1}};
  bool any_gpu = false, any_cpu = false;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const InstanceGroupSpec& g = groups[gi];
    const std::string f = "instance_group[" + std::to_string(gi) + "]";
    const int count = g.count > 0 ? g.count : 1;
    bool gpu = g.kind == InstanceKind::kGpu || (g.kind == InstanceKind::kAuto && gpu_count > 0);
    if (g.kind == InstanceKind::kCpu && !g.gpus.empty()) return field_error(origin, f + ".gpus", "given with KIND_CPU");
    if (!gpu) {
      if (!g.gpus.empty())  // KIND_AUTO naming GPUs on a machine without any
        return field_error(origin, f + ".gpus",
                           "GPU " + std::to_string(g.gpus[0]) + " does not exist: no CUDA GPU is visible");
      any_cpu = true;
      for (int k = 0; k < count; ++k) flat.push_back({static_cast<int>(gi), -1});
      continue;
    }
    if (gpu_count <= 0) {
      if (!g.gpus.empty())
        return field_error(origin, f + ".gpus",
                           "GPU " + std::to_string(g.gpus[0]) +
                               " does not exist: no CUDA GPU is visible, so the model cannot be built for device cuda");
      return field_error(origin, f + ".kind",
                         "KIND_GPU but no CUDA GPU is visible, so the model cannot be built for device cuda");
    }
    any_gpu = true;
    std::vector<int> devices = g.gpus;
    if (devices.empty())
      for (int d = 0; d < gpu_count; ++d) devices.push_back(d);
    std::set<int> seen;
    for (int d : devices) {
      if (d < 0 || d >= gpu_count)
        return field_error(origin, f + ".gpus",
                           "GPU " + std::to_string(d) + " does not exist (" + std::to_string(gpu_count) +
                               " GPU(s) visible: 0.." + std::to_string(gpu_count - 1) + ")");
      if (!seen.insert(d).second) return field_error(origin, f + ".gpus", "GPU " + std::to_string(d) + " listed twice");
      for (int k = 0; k < count; ++k) flat.push_back({static_cast<int>(gi), d});
    }
  }
  if (any_gpu && any_cpu)
    return field_error(origin, "instance_group", "mixing GPU and CPU instance groups is not supported");
  // Round-robin order: rank = how many instances of the same device precede it; stable by rank.
  std::map<int, int> per_device;
  std::vector<std::pair<int, size_t>> keyed;
  for (size_t i = 0; i < flat.size(); ++i) keyed.emplace_back(per_device[flat[i].device]++, i);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<PlacedInstance> out;
  out.reserve(flat.size());
  for (const auto& [rank, i] : keyed) out.push_back(flat[i]);
  return out;
}

std::vector<int> devices_of(const std::vector<PlacedInstance>& instances) {
  std::set<int> s;
  for (const auto& p : instances) s.insert(p.device);
  return std::vector<int>(s.begin(), s.end());
}

int placement_gpu_count(bool* simulated) {
  *simulated = false;
  if (const char* env = std::getenv("KILN_SIMULATED_GPUS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 0 && n <= 64) {
      *simulated = true;
      return static_cast<int>(n);
    }
  }
  return cuda_device_count();
}

}  // namespace kiln::server
