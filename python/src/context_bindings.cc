// kiln._kiln.Context: runs an engine on a dict of arrays, the GIL released while Kiln works.
#include <cstdint>

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include "errors.h"
#include "handles.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace kiln::py {

ContextHandle::ContextHandle(std::shared_ptr<EngineHandle> e, int n) : engine(std::move(e)), threads(n) {
  context = engine->engine->create_context();
  context->set_num_threads(n);
}

namespace {

// "cpu" -> host; "cuda" -> cuda:0; "cuda:N" -> device N.
Placement parse_output_device(const std::string& s) {
  Placement p;
  if (s == "cpu") return p;
  if (s == "cuda") {
    p.cuda_device = 0;
    return p;
  }
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos) {
    p.cuda_device = std::stoi(s.substr(5));
    return p;
  }
  fail(StatusCode::kInvalidArgument, "output_device: expected 'cpu', 'cuda' or 'cuda:N', got '" + s + "'");
}

// The CUDA device whose contiguous arrays a run on `e` binds in place (DeviceTensorView: the engine copies them
// device-to-device on its stream), or -1: CUDA inputs are staged through host memory. Only CUDA engines take
// device inputs, and check_finite reads inputs on the host. Arrays on another GPU than the engine's are staged too:
// the engine orders its copy after the legacy default stream of its own device, not of the array's (a
// cudaMemcpyDefault copy would cross devices, unordered with the producer's work there). An engine whose GPU is
// chosen at its first context (Engine.load with gpu=-1) is known to be on device 0 only when one GPU is visible.
int direct_cuda_device(const Engine& e, bool check_finite) {
  if (e.info().backend != "cuda" || check_finite) return -1;
  if (e.device() >= 0) return e.device();
  return cuda_device_count() == 1 ? 0 : -1;
}

RunInputs convert_inputs(nb::dict inputs, int direct_device, Placement* seen) {
  RunInputs in;
  for (auto [k, v] : inputs) {
    if (!nb::isinstance<nb::str>(k))
      fail(StatusCode::kInvalidArgument, "input names must be str, got " + nb::cast<std::string>(nb::str(k.type().attr("__name__"))));
    add_input(nb::cast<std::string>(k), v, direct_device, seen, &in);
  }
  return in;
}

nb::dict run(ContextHandle& c, nb::dict inputs, std::optional<std::string> output_device, bool check_finite) {
  Placement seen;
  RunInputs in = convert_inputs(inputs, direct_cuda_device(*c.engine->engine, check_finite), &seen);
  const Placement to = output_device ? parse_output_device(*output_device) : seen;
  NamedValues out;
  Status st;
  {
    nb::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(c.mu);
    RunOptions ro;
    ro.check_finite = check_finite;
    // in.arrays keeps the device inputs' memory alive until this returns (the engine's bind waits for its copies).
    st = c.context->run(in.host, in.device, &out, ro);
  }
  ByteRanges shared = c.engine->constants;
  for (const auto& [name, v] : in.host) {
    ByteRanges r = value_ranges(v);
    shared.insert(shared.end(), r.begin(), r.end());
  }
  // Input Values and arrays may own Python arrays: drop them here, with the GIL held (their release takes it anyway).
  in = RunInputs{};
  check(st);
  nb::dict result;
  for (const auto& [name, v] : out) result[name.c_str()] = value_to_python(v, to, shared);
  return result;
}

}  // namespace

void bind_context(nb::module_& m) {
  nb::class_<ContextHandle>(m, "Context",
                            "One runner of an engine: its own activation memory and threads. Use one context per "
                            "thread for parallel runs; runs on the same context are serialized.")
      .def("run", &run, "inputs"_a, "output_device"_a = nb::none(), "check_finite"_a = false,
           "Runs the engine on {input name: array}; returns {output name: array} in the engine's output order.")
      .def("set_threads", [](ContextHandle& c, int n) {
        std::lock_guard<std::mutex> lock(c.mu);
        c.context->set_num_threads(n);
        c.threads = n;
      }, "n"_a, "Intra-op threads of the CPU backend (like `kiln run --threads`; < 1: KILN_NUM_THREADS or all cores).")
      .def_prop_ro("threads", [](const ContextHandle& c) { return c.threads; })
      .def_prop_ro("engine", [](const ContextHandle& c) { return c.engine; })
      .def("last_timings", [](ContextHandle& c) {
        std::lock_guard<std::mutex> lock(c.mu);
        RunTimings t = c.context->last_timings();
        nb::dict d;
        d["h2d_ms"] = t.h2d_ms;
        d["compute_ms"] = t.compute_ms;
        d["d2h_ms"] = t.d2h_ms;
        return d;
      }, "Wall times of the last run's phases in milliseconds: h2d_ms, compute_ms, d2h_ms.");

  // Test hooks. _input_view: where input_to_value puts `obj`'s bytes (address of the Tensor's data) and whether
  // that is the array's own memory (no copy); tests/python/test_zero_copy.py checks the no-copy contract with it.
  // _input_route: a run's conversion (add_input) for the CUDA device _direct_cuda_device gives a run: ("device",
  // the view's address) or ("host", the Tensor's address); tests/python/test_dlpack.py checks the routing with them.
  m.def("_input_view", [](const std::string& name, nb::handle obj) {
    Placement seen;
    Value v = input_to_value(name, obj, &seen);
    return reinterpret_cast<uintptr_t>(v.tensor.raw());
  }, "name"_a, "obj"_a);
  m.def("_input_route", [](const std::string& name, nb::handle obj, int direct_device) {
    Placement seen;
    RunInputs in;
    if (add_input(name, obj, direct_device, &seen, &in) == Route::kDevice)
      return nb::make_tuple("device", reinterpret_cast<uintptr_t>(in.device.front().second.data));
    return nb::make_tuple("host", reinterpret_cast<uintptr_t>(in.host.front().second.tensor.raw()));
  }, "name"_a, "obj"_a, "direct_device"_a);
  m.def("_direct_cuda_device", [](const EngineHandle& e, bool check_finite) {
    return direct_cuda_device(*e.engine, check_finite);
  }, "engine"_a, "check_finite"_a = false);
  m.def("_create_context", [](std::shared_ptr<EngineHandle> e, int threads) {
    return std::make_shared<ContextHandle>(std::move(e), threads);
  }, "engine"_a, "threads"_a = 0);
}

}  // namespace kiln::py
