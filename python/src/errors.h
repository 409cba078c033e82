// Kiln Status -> Python: kiln.KilnError (a RuntimeError subclass) carrying Kiln's one-line message and its code.
#pragma once
#include <exception>
#include <utility>

#include <nanobind/nanobind.h>

#include "kiln/status.h"

namespace kiln::py {

// The C++ exception the bindings throw for a non-ok Status; the translator turns it into kiln.KilnError with
// str(e) == status.message() and e.code == status_code_name(status.code()) ("INVALID_ARGUMENT", ...).
struct KilnException : std::exception {
  Status status;
  explicit KilnException(Status s) : status(std::move(s)) {}
  const char* what() const noexcept override { return status.message().c_str(); }
};

[[noreturn]] inline void throw_status(const Status& st) { throw KilnException(st); }
inline void check(const Status& st) {
  if (!st.ok()) throw_status(st);
}
template <typename T>
T unwrap(Result<T> r) {
  if (!r.ok()) throw_status(r.status());
  return std::move(r).value();
}
// A KilnError for failures the bindings detect themselves (bad Python arguments).
[[noreturn]] inline void fail(StatusCode code, std::string message) { throw KilnException(Status(code, std::move(message))); }

// Creates kiln._kiln.KilnError in `m` and registers the C++ -> Python translation.
void register_errors(nanobind::module_& m);

}  // namespace kiln::py
