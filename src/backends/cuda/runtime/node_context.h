// The CudaKernelContext a CUDA kernel sees while the context runs one node.
#pragma once
#include "backends/cuda/runtime/cuda_context.h"

namespace kiln::cuda {

class NodeContext : public CudaKernelContext {
 public:
  NodeContext(CudaContext& c, size_t node, int64_t tactic) : c_(c), i_(node), tactic_(tactic) {}
  const Node& node() const override { return c_.graph_.nodes[i_]; }
  cudaStream_t stream() const override { return c_.stream_; }
  cublasLtHandle_t cublaslt() const override { return c_.cublaslt_; }
  cudnnHandle_t cudnn() const override { return c_.cudnn_; }
  const cudaDeviceProp& device_props() const override { return c_.props_; }
  bool allow_tf32() const override;
  size_t num_inputs() const override { return c_.node_inputs_[i_].size(); }
  bool has_input(size_t i) const override { return i < num_inputs() && c_.node_inputs_[i_][i] >= 0; }
  DType input_dtype(size_t i) const override;
  const Dims& input_dims(size_t i) const override;
  bool input_is_constant(size_t i) const override;
  Result<DeviceTensor> input(size_t i) override;
  Result<Tensor> host_input(size_t i) override;
  size_t num_outputs() const override { return c_.node_outputs_[i_].size(); }
  bool wants_output(size_t i) const override { return i < num_outputs() && c_.node_outputs_[i_][i] >= 0; }
  Result<DeviceTensor> allocate_output(size_t i, DType dtype, const Dims& dims) override;
  Status alias_output(size_t i, size_t j, const Dims& dims) override;
  Result<void*> workspace(size_t bytes) override { return c_.workspace(bytes); }
  int64_t tactic() const override { return tactic_; }
  bool tactic_tuned_for_shape() const override { return tuned_for_shape_; }
  // Outside tuning: the tactic tuned at the node's current input 0 shape (the first profile's opt shape, or another
  // profile's from NodePlan::shape_tactics), else the first profile's tactic, marked as not tuned for this shape.
  void select_tactic();
  std::shared_ptr<void>& node_state() override { return c_.node_state_[i_]; }
  bool tuning() const override { return c_.tuning_; }
  Status disallow_graph_capture(const std::string& why) override {
    if (c_.capturing_) return internal_error(why + ": cannot be captured in a CUDA graph");
    c_.mark_unsafe(why);
    return ok_status();
  }
  bool capturing() const override { return c_.capturing_; }

  // Slots of outputs this call produced (for releasing trial outputs while tuning).
  const std::vector<int>& produced() const { return produced_; }

 private:
  CudaContext& c_;
  size_t i_;
  int64_t tactic_;
  bool tuned_for_shape_ = true;
  std::vector<int> produced_;
  static const Dims kNoDims;
};

}  // namespace kiln::cuda
