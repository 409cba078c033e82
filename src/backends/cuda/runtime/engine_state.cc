// Uploading an engine's weights to its GPU once, for all of its contexts.
#include "backends/cuda/runtime/engine_state.h"

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/runtime/device_target.h"
#include "ir/graph.h"

namespace kiln::cuda {

Placement placement_of(const NodePlan& plan) {
  if (plan.backend != "cuda") return Placement::kCpu;
  return plan.kernel == kHostKernel ? Placement::kHost : Placement::kCuda;
}

const char* placement_name(Placement p) {
  switch (p) {
    case Placement::kCuda: return "cuda";
    case Placement::kHost: return "host";
    default: return "cpu";
  }
}

CudaEngineState::~CudaEngineState() {
  if (weights_block) {
    cudaSetDevice(device);
    cudaFree(weights_block);
  }
}

Result<std::shared_ptr<CudaEngineState>> create_engine_state(const Engine& engine) {
  auto st = std::make_shared<CudaEngineState>();
  // The device chosen at load or build time (Engine::device()); otherwise the first compatible GPU.
  if (engine.device() >= 0) {
    KILN_RETURN_IF_ERROR(check_target_on(engine.info().compat, engine.device()));
    st->device = engine.device();
  } else {
    KILN_RETURN_IF_ERROR(check_target(engine.info().compat, &st->device));
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(st->device));
  const Graph& g = engine.graph();
  size_t total = 0;
  auto align = [](size_t n) { return (n + 255) / 256 * 256; };
  for (const auto& [name, t] : g.initializers)
    if (t.dtype() != DType::kString) total += align(t.nbytes());
  st->weight_bytes = total;
  if (total == 0) return st;
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&st->weights_block, total));
  size_t off = 0;
  for (const auto& [name, t] : g.initializers) {
    if (t.dtype() == DType::kString) continue;
    DeviceTensor d;
    d.data = t.nbytes() ? static_cast<char*>(st->weights_block) + off : nullptr;
    d.dtype = t.dtype();
    d.dims = t.dims();
    if (t.nbytes()) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(d.data, t.raw(), t.nbytes(), cudaMemcpyHostToDevice));
    st->weights.emplace(name, d);
    off += align(t.nbytes());
  }
  return st;
}

}  // namespace kiln::cuda
