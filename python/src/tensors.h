// Python arrays <-> Kiln Values: numpy / buffer / DLPack inputs (no copy when they can be used in place) and
// numpy (host) or DLPack (CUDA) outputs that own the engine's output memory.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>

#include "kiln/value.h"

namespace kiln::py {

// Where a run's inputs came from and where its outputs go.
struct Placement {
  int cuda_device = -1;  // -1: host memory; else the CUDA device of the inputs / outputs
};

// Converts input `name` (a numpy array or any object with the buffer or DLPack protocol: PyTorch, CuPy, JAX ...;
// numpy str/bytes/object arrays become string tensors). Called with the GIL held.
// - C-contiguous host memory is wrapped, not copied: the Value keeps the Python object alive (its release takes
//   the GIL). Other strides are copied into a dense tensor. The element type is kept as given: a dtype the engine
//   does not take is rejected by the engine's input checks, not converted.
// - CUDA memory (GPU builds) is copied to the host (the engine's bind copies it to its device); `seen` records the
//   device. Builds without CUDA reject it with a one-line KilnError.
Value input_to_value(const std::string& name, nanobind::handle obj, Placement* seen);

// Host byte ranges [begin, end): an output lying in one of them is copied before it is handed out (it aliases
// an input array or an engine constant, which must not become writable through the result).
using ByteRanges = std::vector<std::pair<const char*, const char*>>;
ByteRanges value_ranges(const Value& v);

// An output as a Python object: a numpy array (host) or a DLPack-capable array on `to.cuda_device`; a list for
// sequences, None for an empty optional. Host tensors are handed out without a copy unless they overlap `shared`.
nanobind::object value_to_python(const Value& v, const Placement& to, const ByteRanges& shared);

}  // namespace kiln::py
