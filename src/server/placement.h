// Instance placement: which device each execution context of a model version runs on (pure logic: no CUDA, no
// protobuf), from the config's instance groups and the number of visible GPUs.
#pragma once
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::server {

enum class InstanceKind { kAuto, kGpu, kCpu };

// One `instance_group { count kind gpus }` entry of config.pbtxt.
struct InstanceGroupSpec {
  InstanceKind kind = InstanceKind::kAuto;
  int count = 1;          // instances on EACH listed GPU (GPU groups) or in total (CPU groups); 0 means 1
  std::vector<int> gpus;  // GPU groups: the devices; empty = every visible GPU
};

// One execution context to create.
struct PlacedInstance {
  int group = 0;    // index of its instance group
  int device = -1;  // GPU index; -1 = CPU
  std::string label() const { return device < 0 ? "cpu" : "gpu" + std::to_string(device); }
};

// The instances the groups ask for, given `gpu_count` visible GPUs. KIND_AUTO is a GPU group when a GPU is
// visible, else a CPU group; no groups at all means one CPU instance. Errors name `origin` (the config file) and
// the field: a listed GPU that does not exist, a duplicate GPU in one group, KIND_GPU without any GPU, GPU and CPU
// groups mixed (after KIND_AUTO is resolved). Instances are ordered round-robin over devices (the first instance
// of every device, then the second, ...), so that workers started in this order alternate devices.
Result<std::vector<PlacedInstance>> place_instances(const std::vector<InstanceGroupSpec>& groups, int gpu_count,
                                                    const std::string& origin);

// The distinct devices of `instances`, ascending (-1 for CPU instances).
std::vector<int> devices_of(const std::vector<PlacedInstance>& instances);

// Devices that placement believes exist: KILN_SIMULATED_GPUS=N (test only: N "GPUs" whose instances run the CPU
// backend) when set, else the visible CUDA devices. *simulated says which.
int placement_gpu_count(bool* simulated);

}  // namespace kiln::server
