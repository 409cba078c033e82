// What a backend implements to run an engine for one ExecutionContext (internal; the public API is ExecutionContext).
#pragma once
#include <memory>
#include <vector>

#include "kiln/engine.h"

namespace kiln {

class ContextBackend {
 public:
  virtual ~ContextBackend() = default;
  // `inputs` were validated against the engine; they are copied or uploaded, the caller may reuse its buffers.
  virtual Status bind_inputs(const NamedValues& inputs) = 0;
  // Host inputs plus inputs in CUDA device memory (all validated; device_inputs is not empty). Only backends that
  // run on a GPU take them; the default refuses naming the first one.
  virtual Status bind_inputs(const NamedValues& inputs, const DeviceInputs& device_inputs);
  virtual Status execute() = 0;
  // n >= 1 executions on the bound inputs; backends that can queue them without waiting override this.
  virtual Status execute_back_to_back(int n) {
    for (int i = 0; i < n; ++i) KILN_RETURN_IF_ERROR(execute());
    return ok_status();
  }
  // Outputs of the last execute(), in the engine's output order, on the host.
  virtual Status fetch_outputs(std::vector<Value>* outputs) = 0;
  // Only the outputs with wanted[i]; the rest stay undefined Values. The default fetches all, then drops the rest.
  virtual Status fetch_outputs(std::vector<Value>* outputs, const std::vector<bool>& wanted);
  // An output as it lies on the GPU (ExecutionContext::device_output); the default: unimplemented.
  virtual Result<DeviceTensorView> device_output(size_t index);
  virtual void set_cuda_graph(bool enabled) {}
  virtual void set_profiling(bool enabled) {}
  // Intra-op threads (CPU backends; n < 1: the default). Others ignore it.
  virtual void set_num_threads(int n) {}
  virtual std::vector<LayerTiming> layer_timings() const { return {}; }
  virtual RunTimings last_timings() const { return {}; }
  virtual ContextMemory memory() const { return {}; }
};

}  // namespace kiln
