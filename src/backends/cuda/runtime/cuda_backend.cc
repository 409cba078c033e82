// The "cuda" Backend: placement as supports_all, place_and_tune as prepare, CudaContext as the context.
#include "backends/cuda/runtime/cuda_backend.h"

#include "backends/cuda/runtime/device_target.h"
#include "backends/cuda/runtime/engine_state.h"
#include "backends/cuda/runtime/planner.h"
#include "runtime/context_backend.h"

namespace kiln {
std::unique_ptr<ContextBackend> make_cuda_context(const Engine& engine);  // cuda_execute.cc
}  // namespace kiln

namespace kiln::cuda {

namespace {

class CudaBackend : public Backend {
 public:
  std::string name() const override { return "cuda"; }
  std::string device() const override { return "cuda"; }
  NodeSupport available() const override {
    return cuda_device_count() > 0 ? NodeSupport::yes() : NodeSupport::no("no CUDA GPU is visible");
  }
  std::vector<NodeSupport> supports_all(const Graph& graph) const override {
    std::vector<std::string> why;
    std::vector<Placement> p = place_nodes(graph, &why);
    std::vector<NodeSupport> out;
    for (size_t i = 0; i < p.size(); ++i)
      out.push_back(p[i] == Placement::kCpu ? NodeSupport::no(why[i]) : NodeSupport::yes());
    return out;
  }
  NodeSupport supports(const Graph& graph, const Node& node) const override {
    std::vector<NodeSupport> all = supports_all(graph);
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      if (&graph.nodes[i] == &node) return all[i];
    return NodeSupport::no("node is not in the graph");
  }
  bool wants_pass(const std::string& pass) const override {
    // fold_qdq(_binary): Q/DQ patterns become the int8 ops of quant/ (QLinearConv, QLinearMatMul, LookupTable,
    // QLinearAdd/Mul, QLinearGlobalAveragePool); fold_qdq_fp8: float8 Q/DQ GEMMs become FusedMatMul over float8
    // (cuBLASLt FP8, gemm/).
    return pass == "layout_nhwc" || pass == "fuse_elementwise_chains" || pass == "precision_lowering" ||
           pass == "fold_qdq" || pass == "fold_qdq_binary" || pass == "fold_qdq_fp8";
  }
  std::string best_precision() const override { return "fp16"; }
  Status prepare(Graph& graph, std::vector<NodePlan>& plans, const PlanRequest& request) const override {
    if (!request.graph || request.graph.get() != &graph || !request.options || !request.profiles || !request.info)
      return internal_error("cuda prepare: incomplete plan request");
    return place_and_tune(request.graph, *request.options, *request.profiles, request.info, plans);
  }
  std::unique_ptr<ContextBackend> make_context(const Engine& engine) const override {
    return make_cuda_context(engine);
  }
  Status check_compatible(const Engine& engine) const override {
    if (engine.device() >= 0) return check_target_on(engine.info().compat, engine.device());
    int device = 0;
    return check_target(engine.info().compat, &device);
  }
  Result<std::shared_ptr<void>> create_engine_state(const Engine& engine) const override {
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<CudaEngineState> st, cuda::create_engine_state(engine));
    return std::shared_ptr<void>(std::move(st));
  }
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace kiln::cuda
