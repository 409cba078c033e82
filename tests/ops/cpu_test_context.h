// Test harness for the hand-written CPU kernels: a minimal CpuKernelContext over plain tensors, a runner that
// asks the kernel's supports() on a one-node graph first, and a comparison against the reference kernel.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels/register.h"
#include "kernel_test_util.h"

namespace kiln::cpu::test {

class TestCpuContext : public CpuKernelContext {
 public:
  TestCpuContext(const Node& node, std::vector<Tensor> inputs, int threads)
      : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs.size()), threads_(threads) {}
  const Node& node() const override { return node_; }
  size_t num_inputs() const override { return inputs_.size(); }
  bool has_input(size_t i) const override { return i < inputs_.size() && inputs_[i].defined(); }
  const Tensor& input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : none_; }
  bool input_is_constant(size_t i) const override {
    return std::find(constants_.begin(), constants_.end(), i) != constants_.end();
  }
  void set_constants(std::vector<size_t> c) { constants_ = std::move(c); }
  size_t num_outputs() const override { return outputs_.size(); }
  bool wants_output(size_t i) const override { return node_.has_output(i); }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Dims& dims) override {
    if (i >= outputs_.size()) return invalid_argument("output index out of range");
    // Same shape as last time: reuse (as the CPU context's arena does), so timing probes time the kernel.
    if (outputs_[i].defined() && outputs_[i].dtype() == dtype && outputs_[i].dims() == dims && reuse_) return &outputs_[i];
    KILN_ASSIGN_OR_RETURN(outputs_[i], Tensor::allocate(dtype, dims));
    // Poison so a kernel that leaves elements unwritten fails the comparison.
    if (dtype == DType::kFloat32)
      for (int64_t k = 0; k < outputs_[i].numel(); ++k) outputs_[i].data<float>()[k] = 12345.f;
    return &outputs_[i];
  }
  Status alias_output(size_t i, size_t j, const Dims& dims) override {
    if (dims_numel(dims) != inputs_.at(j).numel()) return invalid_argument("alias numel mismatch");
    outputs_.at(i) = inputs_.at(j).reshaped(dims);
    return ok_status();
  }
  Result<void*> workspace(size_t bytes) override {
    ws_.resize(bytes / 8 + 1);
    return static_cast<void*>(ws_.data());
  }
  int num_threads() const override { return threads_; }
  bool allow_bf16() const override { return allow_bf16_; }
  void set_allow_bf16(bool on) { allow_bf16_ = on; }
  std::shared_ptr<void>& node_state() override { return state_; }
  std::vector<Tensor>& outputs() { return outputs_; }
  void reuse_outputs(bool on) { reuse_ = on; }

 private:
  const Node& node_;
  std::vector<Tensor> inputs_;
  std::vector<Tensor> outputs_;
  Tensor none_;
  std::vector<uint64_t> ws_;
  std::shared_ptr<void> state_;
  int threads_;
  bool reuse_ = false;
  std::vector<size_t> constants_;
  bool allow_bf16_ = false;
};

// The hand-written families only (no oneDNN), so these tests do not depend on the backend's wiring.
inline const CpuKernelRegistry& hand_kernels() {
  static const CpuKernelRegistry r = [] {
    CpuKernelRegistry reg;
    register_cpu_elementwise_kernels(reg);
    register_cpu_norm_kernels(reg);
    register_cpu_data_kernels(reg);
    register_cpu_attention_kernels(reg);
    register_cpu_rnn_kernels(reg);
    register_cpu_quant_kernels(reg);
    return reg;
  }();
  return r;
}

struct CpuRun {
  bool supported = false;
  std::string kernel;  // the selected kernel's id
  std::string why;
  Status status;
  std::vector<Tensor> outputs;
};

// Builds a one-node graph (input types from `inputs`, `const_inputs` as initializers), asks supports(), and
// runs the selected kernel with `threads` threads. `registry`: the hand-written kernels unless given (cpu_kernels()
// for the whole CPU backend, oneDNN kernels included).
inline CpuRun run_cpu_kernel(OpKind op, const std::vector<Tensor>& inputs, const Attrs& attrs, size_t num_outputs,
                             int opset, int threads = 1, const std::vector<size_t>& const_inputs = {},
                             const CpuKernelRegistry* registry = nullptr) {
  Graph g;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = attrs;
  node.opset = opset;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = inputs[i].defined() ? "in" + std::to_string(i) : "";
    node.inputs.push_back(name);
    if (name.empty()) continue;
    g.value_types[name] = TypeInfo::tensor(inputs[i].dtype(), Shape::of(inputs[i].dims()));
    for (size_t c : const_inputs)
      if (c == i) g.initializers[name] = inputs[i];
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  CpuRun r;
  const CpuKernel* k = (registry ? *registry : hand_kernels()).select(g, node, &r.why);
  if (!k) return r;
  r.supported = true;
  r.kernel = k->id;
  TestCpuContext ctx(node, inputs, threads);
  ctx.set_constants(const_inputs);
  r.status = k->run(ctx);
  // Run twice: the second run reuses node_state (prepared state must not change the answer).
  if (r.status.ok()) r.status = k->run(ctx);
  r.outputs = ctx.outputs();
  return r;
}

inline std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}

inline Tensor random_f32(const Dims& dims, float lo = -3.f, float hi = 3.f) {
  Tensor t(DType::kFloat32, dims);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng());
  return t;
}

inline Tensor random_int(DType dt, const Dims& dims, int64_t lo, int64_t hi) {
  Tensor t(dt, dims);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::kInt64) t.data<int64_t>()[i] = d(rng());
    else if (dt == DType::kInt32) t.data<int32_t>()[i] = static_cast<int32_t>(d(rng()));
    else t.data<uint8_t>()[i] = static_cast<uint8_t>(d(rng()));
  }
  return t;
}

// Expects equal dtype/dims and |a-b| <= abs + rel*|b| elementwise (NaN matches NaN); exact for non-floats.
inline void expect_close(const Tensor& got, const Tensor& want, double rel, double abs, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.dims(), want.dims()) << what << ": " << dims_to_string(got.dims()) << " vs " << dims_to_string(want.dims());
  int bad = 0;
  for (int64_t i = 0; i < got.numel() && bad < 5; ++i) {
    const double a = got.as_double(i), b = want.as_double(i);
    if (std::isnan(a) && std::isnan(b)) continue;
    const bool ok = is_float(want.dtype()) ? std::fabs(a - b) <= abs + rel * std::fabs(b) || a == b : a == b;
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " got " << a << " want " << b;
      ++bad;
    }
  }
}

// Runs op on the CPU kernel (expecting support) and the reference, and compares every output.
inline void check_vs_reference(OpKind op, const std::vector<Tensor>& inputs, const Attrs& attrs, size_t num_outputs,
                               int opset, double rel, double abs, const std::string& what, int threads = 1,
                               const std::vector<size_t>& const_inputs = {}) {
  CpuRun c = run_cpu_kernel(op, inputs, attrs, num_outputs, opset, threads, const_inputs);
  ASSERT_TRUE(c.supported) << what << ": refused: " << c.why;
  ASSERT_TRUE(c.status.ok()) << what << ": " << c.status.message();
  auto ref = run_reference_kernel(op, inputs, attrs, num_outputs, opset);
  ASSERT_TRUE(ref.ok()) << what << ": reference failed: " << ref.status().message();
  for (size_t i = 0; i < num_outputs; ++i) {
    if (!(*ref)[i].defined()) continue;
    expect_close(c.outputs[i], (*ref)[i], rel, abs, what + " output " + std::to_string(i));
  }
}

}  // namespace kiln::cpu::test
