// NodeContext: inputs, outputs, workspace and state of one node for a CUDA kernel.
#include "backends/cuda/runtime/node_context.h"

#include "backends/cuda/cuda_check.h"

namespace kiln::cuda {

const Dims NodeContext::kNoDims;

void NodeContext::select_tactic() {
  if (c_.tuning_) return;  // the tuner names the tactic it times
  const Dims& tuned = c_.tuned_dims_[i_];
  if (tuned.empty()) return;  // never tuned: its tactic (0) holds at every shape
  const Dims& d = input_dims(0);
  if (d == tuned) return;
  for (const ShapeTactic& t : c_.shape_tactics_[i_])
    if (t.dims == d) {
      tactic_ = t.tactic;
      return;
    }
  tuned_for_shape_ = false;
}

bool NodeContext::allow_tf32() const {
  const std::string& p = c_.engine_.info().precision;
  return p == "tf32" || p == "best" || p == "fp16" || p == "bf16";
}

DType NodeContext::input_dtype(size_t i) const {
  return has_input(i) ? c_.slots_[c_.node_inputs_[i_][i]].dtype : DType::kUndefined;
}

const Dims& NodeContext::input_dims(size_t i) const {
  return has_input(i) ? c_.slots_[c_.node_inputs_[i_][i]].dims : kNoDims;
}

bool NodeContext::input_is_constant(size_t i) const {
  return has_input(i) && c_.graph_.initializers.count(node().inputs[i]) != 0;
}

Result<DeviceTensor> NodeContext::input(size_t i) {
  if (!has_input(i)) return error("input " + std::to_string(i) + " is missing");
  int id = c_.node_inputs_[i_][i];
  KILN_RETURN_IF_ERROR(c_.ensure_device(id));
  const Slot& s = c_.slots_[id];
  return DeviceTensor{s.dev, s.dtype, s.dims};
}

Result<Tensor> NodeContext::host_input(size_t i) {
  if (!has_input(i)) return error("input " + std::to_string(i) + " is missing");
  int id = c_.node_inputs_[i_][i];
  KILN_RETURN_IF_ERROR(c_.ensure_host(id));
  return c_.slots_[id].host.tensor;
}

Result<DeviceTensor> NodeContext::allocate_output(size_t i, DType dtype, const Dims& dims) {
  if (i >= num_outputs()) return internal_error(node().describe() + ": output " + std::to_string(i) + " out of range");
  int64_t n = numel_of(dims);
  if (n < 0) return error("negative output dimension");
  size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  DeviceTensor t{nullptr, dtype, dims};
  int block = -1;
  if (bytes) {
    KILN_ASSIGN_OR_RETURN(t.data, c_.allocate_block(bytes, &block));
  }
  int id = c_.node_outputs_[i_][i];
  if (id < 0) {
    // Nobody reads it: keep the bytes alive until the node finishes, then drop them.
    if (block >= 0) c_.scratch_blocks_.push_back(block);
    return t;
  }
  Slot& s = c_.slots_[id];
  if (s.block >= 0) c_.unref_block(s.block);
  s = Slot{};
  s.dtype = dtype;
  s.dims = dims;
  s.dev = t.data;
  s.block = block;
  s.on_device = true;
  produced_.push_back(id);
  return t;
}

Status NodeContext::alias_output(size_t i, size_t j, const Dims& dims) {
  if (i >= num_outputs() || !has_input(j)) return internal_error(node().describe() + ": bad alias");
  int src = c_.node_inputs_[i_][j];
  KILN_RETURN_IF_ERROR(c_.ensure_device(src));
  if (numel_of(dims) != numel_of(c_.slots_[src].dims)) return error("alias changes the element count");
  int id = c_.node_outputs_[i_][i];
  if (id < 0) return ok_status();
  const Slot& in = c_.slots_[src];
  Slot& s = c_.slots_[id];
  if (s.block >= 0) c_.unref_block(s.block);
  s = Slot{};
  s.dtype = in.dtype;
  s.dims = dims;
  s.dev = in.dev;
  s.block = in.block;
  s.on_device = true;
  if (s.block >= 0) c_.blocks_[s.block].refs++;
  produced_.push_back(id);
  return ok_status();
}

}  // namespace kiln::cuda
