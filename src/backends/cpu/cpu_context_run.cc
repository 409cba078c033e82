// The CPU ContextBackend's run loop: each step runs its CPU kernel (outputs from the activation arena) or its
// reference kernel (a KernelContext over the slot table), then frees the slots whose last reader it was.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "backends/cpu/cpu_context.h"
#include "backends/cpu/denormals.h"

namespace kiln::cpu {

namespace {

// The CpuKernelContext one CPU kernel sees: pointers into the context's slot table for one step.
class StepContext final : public CpuKernelContext {
 public:
  StepContext(CpuContext& c, int step) : c_(c), s_(step), st_(c.step(step)) {}
  const Node& node() const override { return *st_.node; }
  size_t num_inputs() const override { return st_.in.size(); }
  bool has_input(size_t i) const override { return i < st_.in.size() && st_.in[i] >= 0; }
  const Tensor& input(size_t i) const override {
    static const Tensor kNone;
    return has_input(i) ? c_.slots()[st_.in[i]].tensor : kNone;
  }
  bool input_is_constant(size_t i) const override { return has_input(i) && c_.is_constant_slot(st_.in[i]); }
  size_t num_outputs() const override { return st_.out.size(); }
  bool wants_output(size_t i) const override { return i < st_.out.size() && st_.out[i] >= 0; }
  Result<Tensor*> allocate_output(size_t i, DType dtype, const Dims& dims) override {
    return c_.allocate(s_, i, dtype, dims);
  }
  Status alias_output(size_t i, size_t j, const Dims& dims) override { return c_.alias(s_, i, j, dims); }
  Result<void*> workspace(size_t bytes) override { return c_.workspace(bytes); }
  int num_threads() const override { return c_.num_threads(); }
  bool allow_bf16() const override { return c_.allow_bf16(s_); }
  std::shared_ptr<void>& node_state() override { return st_.state; }
  bool private_output(size_t i) const override { return c_.private_output(s_, i); }
  bool readers_round_to_bf16(size_t i) const override { return c_.readers_round_to_bf16(s_, i); }
  void attach_handoff(size_t i, std::shared_ptr<CpuHandoff> h) override { c_.attach_handoff(s_, i, std::move(h)); }
  CpuHandoff* input_handoff(size_t i) const override { return has_input(i) ? c_.handoff_of(st_.in[i]) : nullptr; }
  const NodePlan* plan() const override { return st_.plan; }

 private:
  CpuContext& c_;
  int s_;
  CpuStep& st_;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<Tensor*> CpuContext::allocate(int step, size_t out_index, DType dtype, const Dims& dims) {
  const CpuStep& st = steps_[step];
  if (out_index >= st.out.size()) return internal_error(st.node->describe() + ": no output " + std::to_string(out_index));
  int slot = st.out[out_index];
  if (slot < 0) {
    // Not requested: give the kernel scratch it may write, never read by anyone.
    static thread_local Tensor scratch;
    if (scratch.defined() && scratch.dtype() == dtype && scratch.dims() == dims) return &scratch;
    auto t = Tensor::allocate(dtype, dims);
    if (!t.ok()) return t.status().with_context(st.node->describe());
    scratch = std::move(*t);
    return &scratch;
  }
  Result<Tensor> t = is_output_[slot] ? output_pool_->allocate(dtype, dims) : arena_.allocate(slot, step, dtype, dims);
  if (!t.ok()) return t.status().with_context(st.node->describe() + " output " + std::to_string(out_index));
  slots_[slot] = Value::of(std::move(*t));
  handoff_[slot].reset();
  return &slots_[slot].tensor;
}

Status CpuContext::alias(int step, size_t out_index, size_t in_index, const Dims& dims) {
  const CpuStep& st = steps_[step];
  if (out_index >= st.out.size() || in_index >= st.in.size() || st.in[in_index] < 0)
    return internal_error(st.node->describe() + ": bad alias of input " + std::to_string(in_index));
  int slot = st.out[out_index], src = st.in[in_index];
  if (slot < 0) return ok_status();
  const Tensor& in = slots_[src].tensor;
  if (dims_numel(dims) != in.numel()) return internal_error(st.node->describe() + ": alias changes the element count");
  slots_[slot] = Value::of(in.reshaped(dims));
  arena_.forget(slot);
  if (arena_.in_arena(src) && !arena_.note_alias(slot, src)) slots_[slot].tensor = slots_[slot].tensor.clone();
  return ok_status();
}

// A step whose work is below these runs on one thread: forking a team costs more than it saves, and on a busy
// machine a barrier waits a whole scheduler slice for a descheduled worker (a batch-1 MLP at 2 threads took 28 ms
// instead of 0.01 while other processes ran). Work is the input element count, or for convolutions and matrix
// products the multiply-adds: a 1x1 convolution over 128 channels x 101 positions reads only 29k elements but does
// 1.7M multiply-adds (conv1d_kws at batch 1, 2 threads: 0.45 -> 0.30 ms when such steps run in parallel). The choice
// depends only on shapes, so a oneDNN primitive always runs under the thread count it was created with.
constexpr int64_t kParallelMinElements = 32 * 1024;
constexpr int64_t kParallelMinMacs = 256 * 1024;

// Multiply-adds of a convolution, matrix product or recurrence from its input shapes (an upper bound for strided
// convolutions: output positions are taken as input positions); -1 for other ops or unknown shapes. A recurrence's
// tasks (directions, slices of the batch rows) run in parallel only when the step gets the threads (bidirectional
// LSTM, hidden 24, batch 16 x 20 steps: 13K input elements but 1.5M multiply-adds).
int64_t contraction_macs(const Node& n, const std::vector<const Tensor*>& in) {
  size_t w = 1;
  bool conv = false;
  switch (n.op) {
    case OpKind::kConv: case OpKind::kFusedConv: case OpKind::kConvInteger: case OpKind::kConvTranspose:
      conv = true;
      break;
    case OpKind::kQLinearConv: case OpKind::kFusedQLinearConv:
      conv = true;
      w = 3;
      break;
    case OpKind::kMatMul: case OpKind::kFusedMatMul: case OpKind::kGemm: case OpKind::kMatMulInteger:
      break;
    case OpKind::kQLinearMatMul:
      w = 3;
      break;
    case OpKind::kLSTM: case OpKind::kGRU: case OpKind::kRNN: {
      // X [S, N, I] (or [N, S, I]) . W [D, G*H, I] and the steps' h . R [D, G*H, H]: S*N*D*G*H*(I + H).
      if (in.size() < 3 || !in[0] || !in[1] || !in[2] || in[0]->rank() != 3 || in[2]->rank() != 3) return -1;
      return in[0]->numel() / in[0]->dims()[2] * (in[1]->numel() + in[2]->numel());
    }
    default:
      return -1;
  }
  if (in.size() <= w || !in[0] || !in[w] || in[0]->rank() < 2) return -1;
  const Dims& x = in[0]->dims();
  int64_t k = conv ? x[1] : x.back();
  if (n.op == OpKind::kGemm && n.attrs.get_int("transA", 0) != 0) k = x[0];
  if (n.op == OpKind::kConvTranspose) k = in[w]->dims().empty() ? 0 : in[w]->dims()[0];  // weight [C, M/g, k...]
  if (k <= 0) return -1;
  return in[0]->numel() / k * in[w]->numel();
}

// Output elements of a Resize from its `sizes` (input 3) or `scales` (input 2), or -1: an upsampling's work is its
// output (DeepLabV3's last Resize reads 16K elements and writes 1M: 1.2 ms on one thread).
int64_t resize_output_elements(const Node& n, const std::vector<const Tensor*>& in) {
  if (n.op != OpKind::kResize || in.empty() || !in[0]) return -1;
  const Tensor* sizes = in.size() > 3 ? in[3] : nullptr;
  const Tensor* scales = in.size() > 2 ? in[2] : nullptr;
  if (sizes && sizes->numel() > 0 && sizes->dtype() == DType::kInt64) {
    int64_t e = 1;
    for (int64_t i = 0; i < sizes->numel(); ++i) e *= std::max<int64_t>(0, sizes->data<int64_t>()[i]);
    return e;
  }
  if (scales && scales->numel() > 0 && scales->dtype() == DType::kFloat32) {
    double e = static_cast<double>(in[0]->numel());
    for (int64_t i = 0; i < scales->numel(); ++i) e *= std::max(0.f, scales->data<float>()[i]);
    return e < 9e18 ? static_cast<int64_t>(e) : -1;
  }
  return -1;
}

Status CpuContext::run_cpu_step(int s) {
  int64_t elems = 0;
  std::vector<const Tensor*>& ins = step_inputs_scratch_;
  ins.clear();
  for (int k : steps_[s].in) {
    const bool tensor = k >= 0 && slots_[k].kind == ValueKind::kTensor;
    ins.push_back(tensor ? &slots_[k].tensor : nullptr);
    if (tensor) elems += slots_[k].tensor.numel();
  }
  const int64_t macs = threads_ > 1 ? contraction_macs(*steps_[s].node, ins) : -1;
  if (threads_ > 1) elems = std::max(elems, resize_output_elements(*steps_[s].node, ins));
  const bool small = macs >= 0 ? macs < kParallelMinMacs : elems < kParallelMinElements;
  int want = small ? 1 : threads_;
  if (want != step_threads_) {
    omp_set_num_threads(want);
    step_threads_ = want;
  }
  StepContext ctx(*this, s);
  Status st = steps_[s].kernel->run(ctx);
  if (st.ok()) return st;
  if (st.message().find(steps_[s].node->name) == std::string::npos) return st.with_context(steps_[s].node->describe());
  return st;
}

Status CpuContext::run_reference_step(int s) {
  KILN_RETURN_IF_ERROR(materialize_inputs(s));
  CpuStep& st = steps_[s];
  std::vector<const Value*> ins;
  ins.reserve(st.in.size());
  for (int k : st.in) ins.push_back(k >= 0 ? &slots_[k] : nullptr);
  static const SubgraphRunner kNoSubgraphs;
  KernelContext ctx(*st.node, std::move(ins), st.runner ? st.runner : kNoSubgraphs);
  Status status = st.ref(ctx);
  if (!status.ok()) {
    if (status.message().find(st.node->name) == std::string::npos) return status.with_context(st.node->describe());
    return status;
  }
  for (size_t k = 0; k < st.out.size(); ++k) {
    int slot = st.out[k];
    if (slot < 0) continue;
    Value& v = ctx.outputs()[k];
    if (v.kind == ValueKind::kTensor && !v.tensor.defined())
      return internal_error(st.node->describe() + ": kernel did not produce output " + std::to_string(k));
    arena_.forget(slot);
    // A reference kernel may return a view of an input (Reshape, Identity): keep its arena region alive or copy.
    if (v.kind == ValueKind::kTensor && v.tensor.defined()) {
      int root = arena_.find_root(v.tensor.raw(), st.in);
      if (root >= 0 && !arena_.note_alias(slot, root)) v.tensor = v.tensor.clone();
    } else {
      for (auto& t : v.sequence)
        if (t.defined() && arena_.find_root(t.raw(), st.in) >= 0) t = t.clone();
      if (v.tensor.defined() && arena_.find_root(v.tensor.raw(), st.in) >= 0) v.tensor = v.tensor.clone();
    }
    slots_[slot] = std::move(v);
    handoff_[slot].reset();
  }
  return ok_status();
}

Status CpuContext::execute() {
  KILN_RETURN_IF_ERROR(init_status_);
  auto t0 = std::chrono::steady_clock::now();
  omp_set_num_threads(threads_);
  step_threads_ = threads_;
  const DenormalsAsZero denormals(threads_);
  std::vector<Dims>& shapes = shapes_scratch_;
  shapes.resize(input_slots_.size());
  for (size_t i = 0; i < input_slots_.size(); ++i) {
    int s = input_slots_[i];
    const Value* v = s >= 0 ? &slots_[s] : nullptr;
    if (v && v->kind == ValueKind::kTensor) shapes[i] = v->tensor.dims();
    else shapes[i].clear();
  }
  arena_.begin_run(shapes);
  if (profiling_) layers_.clear();
  Status status = ok_status();
  auto last = t0;
  for (int s = 0; s < static_cast<int>(steps_.size()); ++s) {
    CpuStep& st = steps_[s];
    bool on_cpu = st.kernel != nullptr;
    if (on_cpu) {
      status = run_cpu_step(s);
    } else {
      const DenormalsAsZero::CallerMode ieee(denormals);
      status = run_reference_step(s);
    }
    if (on_cpu && !status.ok() && status.code() == StatusCode::kUnimplemented && st.ref) {
      // The kernel met a case its supports() did not foresee: the reference kernel runs the node instead.
      const DenormalsAsZero::CallerMode ieee(denormals);
      status = run_reference_step(s);
      on_cpu = false;
    }
    if (!status.ok()) break;
    for (int r : st.release) {
      slots_[r] = Value();
      handoff_[r].reset();
      arena_.forget(r);
    }
    if (profiling_) {
      auto now = std::chrono::steady_clock::now();
      layers_.push_back({st.node->name, op_name(st.node->op), on_cpu ? "cpu" : "reference",
                         on_cpu ? st.kernel->id : "reference", std::chrono::duration<double, std::milli>(now - last).count()});
      last = now;
    }
  }
  arena_.end_run(status.ok());
  timings_.compute_ms = ms_since(t0);
  return status;
}

}  // namespace kiln::cpu
