// The "cpu" Backend: declares what the CPU kernels run and creates CPU contexts.
#include "backends/cpu/cpu_backend.h"

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/precision_choice.h"
#include "backends/cpu/tactic_tuning.h"

namespace kiln::cpu {

namespace {

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string device() const override { return "cpu"; }
  NodeSupport supports(const Graph& graph, const Node& node) const override {
    std::string why;
    if (cpu_kernels().select(graph, node, &why)) return NodeSupport::yes();
    return NodeSupport::no("cpu: " + why);
  }
  // Elementwise chains run as one vectorized pass over memory (kernels/fused_elementwise); a BatchNormalization no
  // conv absorbed runs as a depthwise conv with its ReLU on the blocked hand-off; a residual QLinearAdd joins the int8
  // convolution before it (oneDNN's sum post-op), an 8-bit bias Add the int8 GEMM's int32 bias; NHWC is cuDNN's layout.
  bool wants_pass(const std::string& pass) const override {
    return pass == "fuse_elementwise_chains" || pass == "fold_qdq" || pass == "fold_qdq_binary" ||
           pass == "fuse_qconv_add" || pass == "fuse_qmatmul_bias" || pass == "fuse_qmatmul_add" ||
           pass == "batch_norm_as_depthwise";
  }
  // bf16 where the CPU multiplies it natively (AVX512-BF16, AMX): the build then keeps float32 for kernel classes it
  // measures faster that way (precision_choice.h); float32 elsewhere, where oneDNN only emulates bf16.
  std::string best_precision() const override { return onednn::native_bf16() ? "bf16" : "fp32"; }
  // Records which CPU kernel runs each of its nodes, for `kiln inspect` and so contexts skip the selection.
  // With --precision bf16/best it also chooses bf16 or float32 per kernel class by timing (precision_choice.h); then
  // oneDNN's implementation per node where several can run it (tactic_tuning.h).
  Status prepare(Graph& graph, std::vector<NodePlan>& plans, const PlanRequest& request) const override {
    for (size_t i = 0; i < plans.size() && i < graph.nodes.size(); ++i) {
      if (plans[i].backend != "cpu") continue;
      std::string why;
      const CpuKernel* k = cpu_kernels().select(graph, graph.nodes[i], &why);
      if (!k) return internal_error(graph.nodes[i].describe() + ": placed on cpu but no CPU kernel supports it (" + why + ")");
      plans[i].kernel = k->id;
    }
    KILN_RETURN_IF_ERROR(choose_bf16_kernel_classes(plans, request));
    return tune_cpu_tactics(plans, request);
  }
  std::unique_ptr<ContextBackend> make_context(const Engine& engine) const override { return make_cpu_context(engine); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace kiln::cpu
