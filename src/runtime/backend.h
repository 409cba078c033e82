// The backend interface: what every backend (reference, cpu, cuda) declares, prepares and runs, and the one
// registry the runtime looks backends up in. src/runtime names no backend; backends register themselves through
// register_builtin_backends() (src/backends/registry.cc), in preference order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln {

class ContextBackend;

// Whether a backend can run one node, and why not when it cannot ("float64 inputs", "mode 'cubic'").
struct NodeSupport {
  bool supported = false;
  std::string reason;  // empty when supported
  static NodeSupport yes() { return {true, {}}; }
  static NodeSupport no(std::string why) { return {false, std::move(why)}; }
};

// The build-time decision for one node, stored in the engine file (section "plan") and printed by `kiln inspect`.
// `backend` is the registered name of the backend that runs the node; the rest is that backend's business.
// A tactic tuned at another optimization profile's opt shape than the first's: `dims` are the node's input 0 dims there.
struct ShapeTactic {
  Dims dims;
  int64_t tactic = 0;
  std::string tactic_name;  // informational
};

struct NodePlan {
  std::string backend;    // "cpu", "cuda", "reference"
  std::string kernel;     // the backend's kernel id ("onednn_conv", "jit_eltwise", "cublasLt", "reference")
  int64_t tactic = 0;     // index into the kernel's tactics (0: default / untuned)
  std::string tactic_name;  // human-readable ("cublasLt algo 3"); informational
  std::string layout;     // "" (the node's own), "NHWC", "nChw16c", ...
  DType precision = DType::kUndefined;  // math precision the kernel computes in (kUndefined: the node's dtypes)
  uint64_t workspace = 0;  // scratch bytes the kernel needs at the profile's max shapes
  std::string note;        // why the node is here when not on the preferred backend ("cpu: float64 inputs")
  // Tactics tuned at the other profiles' opt shapes (engine format 5); `tactic` is the first profile's.
  std::vector<ShapeTactic> shape_tactics;
};

// Options and results of partitioning + preparing one graph.
struct PlanRequest {
  const BuildOptions* options = nullptr;
  const std::vector<OptimizationProfile>* profiles = nullptr;
  std::shared_ptr<Graph> graph;  // the graph being built (the same object prepare() gets), for trial engines
  EngineInfo* info = nullptr;    // the engine's info: a backend may record device/compat keys (GPU arch)
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Registered name: "reference", "cpu", "cuda". Stored in plans and EngineInfo.backend.
  virtual std::string name() const = 0;
  // The --device this backend serves: "cpu" or "cuda".
  virtual std::string device() const = 0;
  // False when this process cannot use the backend (no GPU, a CPU without the required ISA), with the reason.
  virtual NodeSupport available() const { return NodeSupport::yes(); }
  // Build time: can this backend run `node` of `graph` (types from graph.type_of)? Cheap; no allocation of weights.
  virtual NodeSupport supports(const Graph& graph, const Node& node) const = 0;
  // supports() for every node of `graph`, in order. Backends whose answer depends on a node's neighbours (CUDA runs
  // shape arithmetic on host values it produced itself) override this; the partitioner calls only this.
  virtual std::vector<NodeSupport> supports_all(const Graph& graph) const {
    std::vector<NodeSupport> out;
    out.reserve(graph.nodes.size());
    for (const Node& n : graph.nodes) out.push_back(supports(graph, n));
    return out;
  }
  // Whether the optimizer should run `pass` (a pass_manager name such as "fuse_elementwise_chains", "layout_nhwc",
  // or "precision_lowering": fp16/bf16 as tensor dtypes with Casts at the boundaries) for graphs whose preferred
  // backend is this one: passes ask backends instead of comparing device strings.
  virtual bool wants_pass(const std::string& pass) const { return false; }
  // What `--precision best` means for graphs whose preferred backend is this one ("fp32", "fp16", "bf16").
  virtual std::string best_precision() const { return "fp32"; }
  // Build time, after partitioning: choose kernels and tactics for the nodes whose plan names this backend
  // (plans[i] belongs to graph.nodes[i]); may time tactics, rewrite weights into the backend's layout, and
  // fill kernel/tactic/layout/workspace. The default keeps the partitioner's plan.
  virtual Status prepare(Graph& graph, std::vector<NodePlan>& plans, const PlanRequest& request) const {
    return ok_status();
  }
  // Run time: the per-context executor for an engine whose EngineInfo.backend is this backend's name.
  virtual std::unique_ptr<ContextBackend> make_context(const Engine& engine) const = 0;
  // Load time: failed_precondition with a rebuild hint when this machine cannot run `engine` (GPU arch, library
  // versions recorded in EngineInfo.compat). engine.device() is the device asked for (-1: any).
  virtual Status check_compatible(const Engine& engine) const { return ok_status(); }
  // State shared by all contexts of one engine (GPU weights), created once on the first context; may be null.
  virtual Result<std::shared_ptr<void>> create_engine_state(const Engine& engine) const {
    return std::shared_ptr<void>();
  }
};

// Registers a backend; later registrations are less preferred for the same device. Not thread-safe: call at
// start-up (register_builtin_backends does).
void register_backend(std::unique_ptr<Backend> backend);
// Registers the backends compiled into this binary, once; safe to call many times and from many threads. The
// lookups below call it themselves.
void register_builtin_backends();
// Defined in src/backends/registry.cc: registers each backend compiled in, most preferred first (cuda, cpu,
// reference). Called once, by register_builtin_backends.
void register_compiled_backends();
// The backend with this name, or nullptr.
const Backend* find_backend(const std::string& name);
// Backends serving `device`, most preferred first (e.g. cpu: "cpu", "reference").
std::vector<const Backend*> backends_for_device(const std::string& device);
// Names of all registered backends, for error messages.
std::vector<std::string> backend_names();
// The same, joined: "cpu, reference".
std::string backend_names_string();

// The generic partitioner: each node goes to the first backend in `chain` whose supports() says yes; the
// reason the preferred backend refused is kept in NodePlan::note. Fails naming the node when none supports it.
Result<std::vector<NodePlan>> partition_graph(const Graph& graph, const std::vector<const Backend*>& chain);

}  // namespace kiln
