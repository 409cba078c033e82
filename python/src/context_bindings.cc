// kiln._kiln.Context: runs an engine on a dict of arrays, the GIL released while Kiln works.
#include <chrono>
#include <cstdint>
#include <vector>

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

// The GPU of a CUDA engine, or -1: not a CUDA engine, or one whose GPU is chosen at its first context (Engine.load
// with gpu=-1) and not known to be device 0 (it is known only when one GPU is visible).
int engine_cuda_device(const Engine& e) {
  if (e.info().backend != "cuda") return -1;
  if (e.device() >= 0) return e.device();
  return cuda_device_count() == 1 ? 0 : -1;
}

// The CUDA device whose contiguous arrays a run on `e` binds in place (DeviceTensorView: the engine copies them
// device-to-device on its stream), or -1: CUDA inputs are staged through host memory. Only CUDA engines take
// device inputs, and check_finite reads inputs on the host. Arrays on another GPU than the engine's are staged too:
// the engine orders its copy after the legacy default stream of its own device, not of the array's (a
// cudaMemcpyDefault copy would cross devices, unordered with the producer's work there).
int direct_cuda_device(const Engine& e, bool check_finite) { return check_finite ? -1 : engine_cuda_device(e); }

// The CUDA device on which a run on `e` hands out outputs placed at `to` straight from the engine's GPU memory (one
// device-to-device copy each, ExecutionContext::device_output), or -1: every output is fetched to the host (and
// copied up when `to` is a GPU). Only the engine's own GPU qualifies.
int direct_output_device(const Engine& e, const Placement& to) {
  return to.cuda_device >= 0 && to.cuda_device == engine_cuda_device(e) ? to.cuda_device : -1;
}

// bind_inputs + execute, then each tensor output that lies on the GPU (device_output) in a dtype handed out as it
// lies there copied device-to-device into new memory on `device` ((*on_device)[i]), the others fetched to the host
// into *out (the copied ones come back there as undefined Values). Call with c.mu held (the views are valid only
// until the next bind or execute on the context) and the GIL released. last_timings: h2d/compute/d2h as for run (d2h
// counts only the outputs fetched), c.d2d_ms the device-to-device copies (their allocations included; 0 when no
// output was copied).
Status run_to_device(ContextHandle& c, const RunInputs& in, const RunOptions& ro, int device, NamedValues* out,
                     std::vector<DeviceOutput>* on_device) {
  KILN_RETURN_IF_ERROR(c.context->bind_inputs(in.host, in.device, ro));
  KILN_RETURN_IF_ERROR(c.context->execute());
  const std::vector<TensorDesc>& descs = c.context->engine().outputs();
  std::vector<bool> wanted(descs.size(), true);
  on_device->clear();
  on_device->resize(descs.size());
  for (size_t i = 0; i < descs.size(); ++i) {
    if (descs[i].kind != ValueKind::kTensor) continue;  // sequences and optionals: the host path
    Result<DeviceTensorView> view = c.context->device_output(i);
    // Not on the GPU (made by a CPU fallback node), strings, or a dtype the host path converts (bfloat16 ...).
    if (!view.ok() || !device_output_dtype_ok(view->dtype)) continue;
    const auto t0 = std::chrono::steady_clock::now();
    Status st = copy_device_output(*view, device, &(*on_device)[i]);
    c.d2d_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) return st.with_context("output '" + descs[i].name + "'");
    wanted[i] = false;
  }
  return c.context->fetch_outputs(out, wanted);
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
  const Engine& engine = *c.engine->engine;
  Placement seen;
  RunInputs in = convert_inputs(inputs, direct_cuda_device(engine, check_finite), &seen);
  const Placement to = output_device ? parse_output_device(*output_device) : seen;
  const int out_device = direct_output_device(engine, to);
  NamedValues out;
  std::vector<DeviceOutput> on_device;  // outputs copied device-to-device (device >= 0), by engine output index
  Status st;
  {
    nb::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(c.mu);
    RunOptions ro;
    ro.check_finite = check_finite;
    c.d2d_ms = 0;
    // in.arrays keeps the device inputs' memory alive until this returns (the engine's bind waits for its copies).
    if (out_device < 0)
      st = c.context->run(in.host, in.device, &out, ro);
    else
      st = run_to_device(c, in, ro, out_device, &out, &on_device);
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
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& [name, v] = out[i];
    if (i < on_device.size() && on_device[i].device >= 0)
      result[name.c_str()] = device_output_to_python(std::move(on_device[i]));
    else
      result[name.c_str()] = value_to_python(v, to, shared);
  }
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
        d["d2d_ms"] = c.d2d_ms;
        return d;
      }, "Wall times of the last run's phases in milliseconds: h2d_ms, compute_ms, d2h_ms (outputs fetched to the "
         "host), d2d_ms (outputs copied device-to-device on the engine's GPU; 0 when none were).");

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
  // _direct_output_device: the GPU whose outputs a run on `engine` placed at `output_device` copies device-to-device
  // (-1: through the host); _device_output_dtype: whether an output of that dtype on the GPU is handed out as it lies.
  m.def("_direct_output_device", [](const EngineHandle& e, const std::string& output_device) {
    return direct_output_device(*e.engine, parse_output_device(output_device));
  }, "engine"_a, "output_device"_a);
  m.def("_device_output_dtype", [](const std::string& name) {
    DType t;
    if (!dtype_from_name(name, &t)) fail(StatusCode::kInvalidArgument, "unknown dtype '" + name + "'");
    return device_output_dtype_ok(t);
  }, "dtype"_a);
  m.def("_create_context", [](std::shared_ptr<EngineHandle> e, int threads) {
    return std::make_shared<ContextHandle>(std::move(e), threads);
  }, "engine"_a, "threads"_a = 0);
}

}  // namespace kiln::py
