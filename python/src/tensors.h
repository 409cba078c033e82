// Python arrays <-> Kiln Values: numpy / buffer / DLPack inputs (no copy when they can be used in place) and
// numpy (host) or DLPack (CUDA) outputs that own the engine's output memory.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>

#include "gpu_copy.h"
#include "kiln/engine.h"
#include "kiln/value.h"

namespace kiln::py {

// Where a run's inputs came from and where its outputs go.
struct Placement {
  int cuda_device = -1;  // -1: host memory; else the CUDA device of the inputs / outputs
};

// Converts input `name` (a numpy array or any object with the buffer or DLPack protocol: PyTorch, CuPy, JAX ...;
// numpy str/bytes/object arrays become string tensors) to a host Value. Called with the GIL held.
// - C-contiguous host memory is wrapped, not copied: the Value keeps the Python object alive (its release takes
//   the GIL). Other strides are copied into a dense tensor. The element type is kept as given: a dtype the engine
//   does not take is rejected by the engine's input checks, not converted.
// - CUDA memory (GPU builds) is copied to the host (the engine's bind copies it to its device); `seen` records the
//   device. Builds without CUDA reject it with a one-line KilnError. add_input below binds it in place instead.
Value input_to_value(const std::string& name, nanobind::handle obj, Placement* seen);

// A run's inputs as ExecutionContext::run takes them. `arrays` holds the imported arrays behind `device` (their
// DLPack exports, which keep the producer's memory alive): keep it until the run has returned (the release of each
// takes the GIL).
struct RunInputs {
  NamedValues host;
  DeviceInputs device;
  std::vector<std::shared_ptr<void>> arrays;
};

// How add_input placed an input.
enum class Route { kHost, kDevice };

// Adds input `name` to `in`. Called with the GIL held. A C-contiguous CUDA array on `direct_device` (>= 0) goes to
// in->device as a view of its own memory (nothing is copied here: the CUDA engine copies it device-to-device when
// it binds) and its array to in->arrays; everything else, CUDA arrays on other devices included, goes to in->host
// converted as input_to_value does. CUDA arrays pass the same checks on both routes (dtype, contiguous, all on one
// device).
Route add_input(const std::string& name, nanobind::handle obj, int direct_device, Placement* seen, RunInputs* in);

// Host byte ranges [begin, end): an output lying in one of them is copied before it is handed out (it aliases
// an input array or an engine constant, which must not become writable through the result).
using ByteRanges = std::vector<std::pair<const char*, const char*>>;
ByteRanges value_ranges(const Value& v);

// An output as a Python object: a numpy array (host) or a DLPack-capable array on `to.cuda_device`; a list for
// sequences, None for an empty optional. Host tensors are handed out without a copy unless they overlap `shared`.
nanobind::object value_to_python(const Value& v, const Placement& to, const ByteRanges& shared);

// CUDA memory from copy_host_to_new_device / copy_device_to_new_device, freed with free_device unless a Python array
// takes it over.
struct FreeDevice {
  void operator()(void* p) const noexcept { free_device(p); }
};
using DeviceMemory = std::unique_ptr<void, FreeDevice>;

// An engine output that stayed on the GPU, copied device-to-device into memory of its own on `device`. Made with the
// context's lock held and the GIL released (copy_device_output); handed to Python later (device_output_to_python).
struct DeviceOutput {
  DType dtype = DType::kUndefined;
  Dims dims;
  int device = -1;
  DeviceMemory data;  // nullptr when the tensor is empty
};

// Whether an output of `dtype` lying on the GPU can be handed out as it lies there: its bytes are the DLPack array's
// (no widening to float32 as bfloat16 / float8 / float4 outputs get on the host; no strings). Others take the host path.
bool device_output_dtype_ok(DType dtype);

// Copies `view` (an engine output on `device`, ExecutionContext::device_output) to a new allocation on `device`; the
// copy is complete on return. No Python object is touched: call it without the GIL, under the context's lock.
Status copy_device_output(const DeviceTensorView& view, int device, DeviceOutput* out);

// `out` as a DLPack-capable array on its device that owns out->data (the same capsule ownership as CUDA outputs
// copied from the host by value_to_python). Called with the GIL held.
nanobind::object device_output_to_python(DeviceOutput&& out);

}  // namespace kiln::py
