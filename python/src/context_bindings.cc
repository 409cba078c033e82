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

nb::dict run(ContextHandle& c, nb::dict inputs, std::optional<std::string> output_device, bool check_finite) {
  NamedValues in;
  Placement seen;
  for (auto [k, v] : inputs) {
    if (!nb::isinstance<nb::str>(k))
      fail(StatusCode::kInvalidArgument, "input names must be str, got " + nb::cast<std::string>(nb::str(k.type().attr("__name__"))));
    std::string name = nb::cast<std::string>(k);
    in.emplace_back(name, input_to_value(name, v, &seen));
  }
  const Placement to = output_device ? parse_output_device(*output_device) : seen;
  NamedValues out;
  Status st;
  {
    nb::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(c.mu);
    RunOptions ro;
    ro.check_finite = check_finite;
    st = c.context->run(in, &out, ro);
  }
  ByteRanges shared = c.engine->constants;
  for (const auto& [name, v] : in) {
    ByteRanges r = value_ranges(v);
    shared.insert(shared.end(), r.begin(), r.end());
  }
  // Input Values may own Python arrays: drop them here, with the GIL held (their release takes it anyway).
  in.clear();
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

  // Test hook: where input_to_value puts `obj`'s bytes (address of the Tensor's data) and whether that is the
  // array's own memory (no copy). tests/python/test_zero_copy.py checks the no-copy contract with it.
  m.def("_input_view", [](const std::string& name, nb::handle obj) {
    Placement seen;
    Value v = input_to_value(name, obj, &seen);
    return reinterpret_cast<uintptr_t>(v.tensor.raw());
  }, "name"_a, "obj"_a);
  m.def("_create_context", [](std::shared_ptr<EngineHandle> e, int threads) {
    return std::make_shared<ContextHandle>(std::move(e), threads);
  }, "engine"_a, "threads"_a = 0);
}

}  // namespace kiln::py
