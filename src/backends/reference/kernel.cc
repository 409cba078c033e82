// KernelContext accessors.
#include "backends/reference/kernel.h"

namespace kiln {

const Value& KernelContext::input_value(size_t i) const {
  KILN_CHECK(has_input(i));
  return *inputs_[i];
}

const Tensor& KernelContext::input(size_t i) const {
  static const Tensor kNone;
  if (!has_input(i) || !inputs_[i]->is_tensor()) return kNone;
  return inputs_[i]->tensor;
}

Status KernelContext::require_tensor(size_t i) const {
  if (!has_input(i)) return error("required input " + std::to_string(i) + " is missing");
  if (!inputs_[i]->is_tensor()) return error("input " + std::to_string(i) + " must be a tensor");
  return ok_status();
}

Status KernelContext::error(const std::string& msg) const {
  return invalid_argument(node_.describe() + ": " + msg);
}

Status KernelContext::unsupported(const std::string& msg) const {
  return unimplemented(node_.describe() + ": " + msg);
}

}  // namespace kiln
