// kiln._kiln.Engine, TensorDesc and build(): compiling, loading, saving and describing engines.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "errors.h"
#include "gpu_copy.h"
#include "handles.h"
#include "ir/graph.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace kiln::py {

EngineHandle::EngineHandle(std::shared_ptr<Engine> e) : engine(std::move(e)) {
  // Graph is internal (src/ir/graph.h); only its initializers' addresses are read, to keep constants read-only.
  for (const auto& [name, t] : engine->graph().initializers)
    if (t.defined() && t.dtype() != DType::kString && t.raw() && t.nbytes())
      constants.emplace_back(static_cast<const char*>(t.raw()), static_cast<const char*>(t.raw()) + t.nbytes());
}

namespace {

using ProfileArg = std::map<std::string, std::tuple<Dims, Dims, Dims>>;

std::shared_ptr<EngineHandle> build(const std::string& path, const std::string& device, int gpu,
                                    const std::string& backend, const std::string& precision,
                                    const std::map<std::string, Dims>& shapes, const std::vector<ProfileArg>& profiles,
                                    int opt_level, const std::string& timing_cache, bool exact_gelu, bool exact_qdq,
                                    const std::map<std::string, std::string>& input_dtypes,
                                    const std::string& calib_dir, const std::string& calib_cache,
                                    const std::string& calib_method, double calib_percentile, int calib_batches,
                                    const std::string& int8_float, const std::string& export_qdq, const std::string& accuracy_budget,
                                    int accuracy_samples, const std::string& accuracy_report) {
  BuildOptions o;
  o.device = device;
  o.gpu = gpu;
  o.backend = backend;
  o.precision = precision;
  o.shapes = shapes;
  o.opt_level = opt_level;
  o.timing_cache = timing_cache;
  o.exact_gelu = exact_gelu;
  o.exact_qdq = exact_qdq;
  o.calib_dir = calib_dir;
  o.calib_cache = calib_cache;
  o.calib_method = calib_method;
  o.calib_percentile = calib_percentile;
  o.calib_batches = calib_batches;
  o.int8_float = int8_float;
  o.export_qdq = export_qdq;
  o.accuracy_budget = accuracy_budget;
  o.accuracy_samples = accuracy_samples;
  o.accuracy_report = accuracy_report;
  for (const auto& p : profiles) {
    OptimizationProfile prof;
    for (const auto& [name, r] : p) prof.inputs[name] = ShapeRange{std::get<0>(r), std::get<1>(r), std::get<2>(r)};
    o.profiles.push_back(std::move(prof));
  }
  for (const auto& [name, dt] : input_dtypes) {
    DType t;
    if (!dtype_from_name(dt, &t)) fail(StatusCode::kInvalidArgument, "input_dtypes: unknown dtype '" + dt + "' for '" + name + "'");
    o.input_dtypes[name] = t;
  }
  Result<std::shared_ptr<Engine>> r = [&] {
    nb::gil_scoped_release nogil;
    return Engine::build_from_onnx(path, o);
  }();
  return std::make_shared<EngineHandle>(unwrap(std::move(r)));
}

std::shared_ptr<EngineHandle> load(const std::string& path, int gpu) {
  Result<std::shared_ptr<Engine>> r = [&] {
    nb::gil_scoped_release nogil;
    LoadOptions lo;
    lo.gpu = gpu;
    return Engine::load(path, lo);
  }();
  return std::make_shared<EngineHandle>(unwrap(std::move(r)));
}

std::shared_ptr<EngineHandle> from_bytes(nb::bytes data, const std::string& origin) {
  std::string bytes(data.c_str(), data.size());
  Result<std::shared_ptr<Engine>> r = [&] {
    nb::gil_scoped_release nogil;
    return Engine::from_bytes(bytes, origin);
  }();
  return std::make_shared<EngineHandle>(unwrap(std::move(r)));
}

nb::dict profile_dict(const OptimizationProfile& p) {
  nb::dict d;
  for (const auto& [name, r] : p.inputs) d[name.c_str()] = nb::make_tuple(nb::cast(r.min), nb::cast(r.opt), nb::cast(r.max));
  return d;
}

}  // namespace

void bind_engine(nb::module_& m) {
  nb::class_<TensorDesc>(m, "TensorDesc", "A model input or output: name, element type and dims (-1 where unknown).")
      .def_ro("name", &TensorDesc::name)
      .def_prop_ro("dtype", [](const TensorDesc& d) { return std::string(dtype_name(d.dtype)); },
                   "numpy-style element type name: 'float32', 'int64', 'bool', 'string', ...")
      .def_prop_ro("dims", [](const TensorDesc& d) { return d.rank_known ? std::optional<Dims>(d.dims) : std::nullopt; },
                   "dims with -1 where unknown; None when even the rank is unknown")
      .def_ro("dim_names", &TensorDesc::dim_names, "symbolic dim names ('batch'), '' where the dim is fixed")
      .def_prop_ro("kind", [](const TensorDesc& d) {
        switch (d.kind) {
          case ValueKind::kSequence: return "sequence";
          case ValueKind::kOptional: return "optional";
          default: return "tensor";
        }
      })
      .def("__repr__", [](const TensorDesc& d) { return "TensorDesc(" + d.to_string() + ")"; });

  nb::class_<EngineHandle>(m, "Engine", "A compiled model (immutable; share it between threads).")
      .def_static("load", &load, "path"_a, "gpu"_a = -1,
                  "Loads an engine file (kiln build / Engine.save). gpu: CUDA device for GPU engines (-1: first compatible).")
      .def_static("from_bytes", &from_bytes, "data"_a, "origin"_a = "<bytes>", "Loads an engine from its serialized bytes.")
      .def("save", [](const EngineHandle& h, const std::string& path) {
        Status st;
        {
          nb::gil_scoped_release nogil;
          st = h.engine->save(path);
        }
        check(st);
      }, "path"_a, "Writes the engine file (the format `kiln run`, `kiln serve` and Engine.load read).")
      .def("serialize", [](const EngineHandle& h) {
        std::string s = unwrap(h.engine->serialize());
        return nb::bytes(s.data(), s.size());
      }, "The engine file's bytes.")
      .def("inspect", [](const EngineHandle& h) { return h.engine->describe(); },
           "Multi-line description, the text `kiln inspect` prints.")
      .def_prop_ro("inputs", [](const EngineHandle& h) { return h.engine->inputs(); })
      .def_prop_ro("outputs", [](const EngineHandle& h) { return h.engine->outputs(); })
      .def_prop_ro("profiles", [](const EngineHandle& h) {
        nb::list l;
        for (const auto& p : h.engine->profiles()) l.append(profile_dict(p));
        return l;
      }, "Optimization profiles: one dict per profile, input name -> (min, opt, max) dims.")
      .def_prop_ro("info", [](const EngineHandle& h) {
        const EngineInfo& i = h.engine->info();
        nb::dict d;
        d["format_version"] = i.format_version;
        d["kiln_version"] = i.kiln_version;
        d["backend"] = i.backend;
        d["precision"] = i.precision;
        d["device"] = i.device;
        d["source"] = i.source;
        d["compat"] = nb::cast(i.compat);
        d["weight_bytes"] = h.engine->weight_bytes();
        d["accuracy_guard"] = i.accuracy_guard;
        nb::dict layers;  // insertion order = graph order
        for (const auto& [layer, precision] : i.layer_precision) layers[layer.c_str()] = precision;
        d["layer_precision"] = layers;
        return d;
      }, "Build facts: format_version, kiln_version, backend, precision, device, source, compat, weight_bytes, "
         "accuracy_guard (the INT8 guard's result line, '' without one), layer_precision ({layer: int8|fp32}).");

  m.def("_build", &build, "path"_a, "device"_a, "gpu"_a, "backend"_a, "precision"_a, "shapes"_a, "profiles"_a,
        "opt_level"_a, "timing_cache"_a, "exact_gelu"_a, "exact_qdq"_a, "input_dtypes"_a, "calib_dir"_a, "calib_cache"_a,
        "calib_method"_a, "calib_percentile"_a, "calib_batches"_a, "int8_float"_a, "export_qdq"_a,
        "accuracy_budget"_a, "accuracy_samples"_a, "accuracy_report"_a);
  m.def("cuda_device_count", &cuda_device_count, "Visible CUDA devices (0 without a GPU or in builds without CUDA).");
  m.attr("built_with_cuda") = built_with_cuda();
  m.attr("__version__") = KILN_VERSION;
}

}  // namespace kiln::py
