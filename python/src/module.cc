// kiln._kiln: the native module (nanobind) behind the `kiln` Python package; python/kiln/__init__.py wraps it.
#include <nanobind/nanobind.h>

#include "errors.h"

namespace nb = nanobind;

namespace kiln::py {
void bind_engine(nb::module_& m);
void bind_context(nb::module_& m);
}  // namespace kiln::py

NB_MODULE(_kiln, m) {
  m.doc() = "Kiln's native bindings (use the `kiln` package, not this module).";
  kiln::py::register_errors(m);
  kiln::py::bind_engine(m);
  kiln::py::bind_context(m);
}
