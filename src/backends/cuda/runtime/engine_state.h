// GPU state shared by all contexts of one CUDA engine: the device, the weights uploaded once, node placement.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/kernel.h"
#include "kiln/engine.h"
#include "runtime/backend.h"

namespace kiln::cuda {

// Where a node runs, from its NodePlan: backend "cuda" -> kCuda (kernel "host" -> kHost), any other -> kCpu.
enum class Placement { kCuda, kCpu, kHost };
// kCuda: a CUDA kernel; kCpu: the reference kernel on the host with explicit copies (fallback);
// kHost: shape arithmetic on small host values (Shape, Size and what consumes only them): no copies, no kernel launch.
Placement placement_of(const NodePlan& plan);
const char* placement_name(Placement p);
constexpr const char* kHostKernel = "host";  // NodePlan::kernel of a kHost node
// Input 0's dims when the tactic was chosen: a tactic index names a plan of that shape; kernels whose plans differ
// per shape (cuDNN graph convolutions) run their first plan at other shapes instead of building plans up to it.
constexpr const char* kTacticDimsAttr = "kiln_tactic_dims";
// Set (1) on tuned nodes of an engine whose other profiles were tuned with cuDNN's runtime-compiled convolution engines
// in their tactic lists (KILN_CUDA_CONV_RTC_PROFILES=1 at build time; conv.cc at_tuned_shape): the engine carries the
// choice, so a run never reads a tactic index against another list than the one it was timed in.
constexpr const char* kRtcProfilesAttr = "kiln_rtc_at_profiles";
// Whether this build offers runtime-compiled engines at every profile's shape (KILN_CUDA_CONV_RTC_PROFILES=1; opt-in
// until checked on a GPU: docs/gpu.md, "Runtime-compiled engines at every tuned batch size").
bool rtc_at_every_profile_requested();

struct CudaEngineState {
  int device = 0;
  void* weights_block = nullptr;
  size_t weight_bytes = 0;
  std::unordered_map<std::string, DeviceTensor> weights;  // initializer name -> device copy
  ~CudaEngineState();
};

// Uploads the engine's initializers to engine.device() (checked by check_target_on), or when that is -1 to the
// first GPU that can run the engine (check_target). Each Engine object holds its own copy: one per device.
Result<std::shared_ptr<CudaEngineState>> create_engine_state(const Engine& engine);

}  // namespace kiln::cuda
