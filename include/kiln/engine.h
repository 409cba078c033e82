// Engine: an immutable compiled model (graph, weights, profiles); ExecutionContext: one runner of it.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/status.h"
#include "kiln/value.h"

namespace kiln {

struct Graph;

// Allowed range of one input's dims in an optimization profile.
struct ShapeRange {
  Dims min, opt, max;
};
struct OptimizationProfile {
  std::map<std::string, ShapeRange> inputs;
};

struct BuildOptions {
  std::string device = "cpu";        // cpu | cuda
  std::string precision = "fp32";    // fp32 | fp16 | bf16 | int8 | best
  std::map<std::string, Dims> shapes;        // fixed input shapes (--shapes): a profile with min=opt=max
  std::vector<OptimizationProfile> profiles;  // --min/opt/max-shapes
  int opt_level = 3;
  std::vector<std::string> dump_ir_after;  // pass names ("import", "all") whose IR is printed to stderr
};

// Static description of a model input or output. dims: -1 where unknown; dim_names: symbol or "".
struct TensorDesc {
  std::string name;
  ValueKind kind = ValueKind::kTensor;
  DType dtype = DType::kUndefined;
  bool rank_known = false;
  Dims dims;
  std::vector<std::string> dim_names;
  std::string to_string() const;  // "input: float32[batch,3,224,224]"
};

struct EngineInfo {
  uint32_t format_version = 0;
  std::string kiln_version;
  std::string backend;    // "reference" (CPU)
  std::string precision;  // "fp32"
  std::string device;     // description of the target device
  std::string source;     // model file it was built from
};

class ExecutionContext;

class Engine {
 public:
  // Imports and compiles an ONNX model.
  static Result<std::shared_ptr<Engine>> build_from_onnx(const std::string& onnx_path, const BuildOptions& options);
  // Loads an engine file; truncated, corrupt, foreign or newer files fail with one clear message.
  static Result<std::shared_ptr<Engine>> load(const std::string& engine_path);
  // Loads an engine file or compiles an .onnx file, chosen by the file's contents.
  static Result<std::shared_ptr<Engine>> load_or_build(const std::string& path, const BuildOptions& options);
  static Result<std::shared_ptr<Engine>> from_bytes(const std::string& bytes, const std::string& origin);

  Status save(const std::string& path) const;
  Result<std::string> serialize() const;

  const std::vector<TensorDesc>& inputs() const { return inputs_; }
  const std::vector<TensorDesc>& outputs() const { return outputs_; }
  const std::vector<OptimizationProfile>& profiles() const { return profiles_; }
  const EngineInfo& info() const { return info_; }
  const Graph& graph() const { return *graph_; }
  // Bytes of weights held by the engine.
  size_t weight_bytes() const;
  // Multi-line human description: inputs, outputs, profiles, per-node list with kernels, sizes.
  std::string describe() const;

  // Contexts share the engine's weights; each may run on its own thread.
  std::unique_ptr<ExecutionContext> create_context() const;

  Engine(std::shared_ptr<const Graph> graph, EngineInfo info, std::vector<OptimizationProfile> profiles);

 private:
  std::shared_ptr<const Graph> graph_;
  EngineInfo info_;
  std::vector<OptimizationProfile> profiles_;
  std::vector<TensorDesc> inputs_, outputs_;
};

using NamedValues = std::vector<std::pair<std::string, Value>>;

struct RunOptions {
  bool check_finite = false;  // reject NaN/Inf in float inputs with an error naming the input
};

class ExecutionContext {
 public:
  explicit ExecutionContext(const Engine& engine) : engine_(engine) {}
  // Validates inputs (names, dtypes, ranks, dims, profile ranges) and runs the engine. Outputs come
  // back in the engine's output order.
  Status run(const NamedValues& inputs, NamedValues* outputs, const RunOptions& options = {});
  // Only the input checks of run().
  Status validate_inputs(const NamedValues& inputs, const RunOptions& options = {}) const;

 private:
  const Engine& engine_;
};

}  // namespace kiln
