// kiln.KilnError: the Python exception type for every Kiln failure, and the translator that raises it.
#include "errors.h"

namespace nb = nanobind;

namespace kiln::py {
namespace {
PyObject* g_kiln_error = nullptr;  // owned by the module attribute; lives as long as the interpreter
}  // namespace

void register_errors(nb::module_& m) {
  g_kiln_error = PyErr_NewExceptionWithDoc(
      "kiln.KilnError",
      "A Kiln failure. str(e) is Kiln's one-line message (the text `kiln` prints after 'error:'); e.code is the "
      "status code name: INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, OUT_OF_RANGE, FAILED_PRECONDITION, "
      "RESOURCE_EXHAUSTED, DATA_LOSS or INTERNAL.",
      PyExc_RuntimeError, nullptr);
  if (!g_kiln_error) throw nb::python_error();
  m.attr("KilnError") = nb::steal(g_kiln_error);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const KilnException& e) {
      nb::object exc = nb::handle(g_kiln_error)(nb::str(e.status.message().c_str()));
      exc.attr("code") = nb::str(status_code_name(e.status.code()));
      PyErr_SetObject(g_kiln_error, exc.ptr());
    }
  });
}

}  // namespace kiln::py
