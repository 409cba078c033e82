// Engine: an immutable compiled model (graph, weights, profiles); ExecutionContext: one runner of it.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kiln/status.h"
#include "kiln/value.h"

namespace kiln {

struct Graph;
struct NodePlan;     // src/runtime/backend.h: the per-node build plan, stored in the engine (internal)
struct LoadOptions;  // below: the load-time device choice

// Allowed range of one input's dims in an optimization profile.
struct ShapeRange {
  Dims min, opt, max;
};
struct OptimizationProfile {
  std::map<std::string, ShapeRange> inputs;
};

struct BuildOptions {
  std::string device = "cpu";        // cpu | cuda
  // A registered backend name ("reference", "cpu", "cuda") that runs every node it supports, the reference backend
  // the rest (--backend). Empty: the device's backends in preference order (cpu: cpu, reference).
  std::string backend;
  int gpu = 0;                       // CUDA device index for --device cuda
  std::string precision = "fp32";    // fp32 | tf32 | fp16 | bf16 | int8 | best
  std::map<std::string, Dims> shapes;        // fixed input shapes (--shapes): a profile with min=opt=max
  std::vector<OptimizationProfile> profiles;  // --min/opt/max-shapes
  // Batch sizes to tune at (--tune-batch-sizes; kiln serve passes max_batch_size and the preferred batch sizes of a
  // GPU model): without --shapes or profiles, a model whose inputs all have a dynamic first dim and known other dims
  // gets one profile per size (batch 1 to the largest size, opt = the size; the first size is tuned first and is the
  // only one where GPU convolutions may pick engines that break CUDA graphs). Otherwise the sizes are ignored.
  std::vector<int64_t> tune_batch_sizes;
  int opt_level = 3;                       // 0: no optimization, first valid tactic .. 5: most tactics timed
  std::vector<std::string> dump_ir_after;  // pass names ("import", "all") whose IR is printed to stderr
  std::string timing_cache;                // GPU tactic timing cache file: read if present, updated after the build
  // fp16/bf16: keep FusedMatMul's erf GELU exact instead of the tanh form that GEMM epilogues fuse
  // (docs/precision.md: max abs difference 4.7e-4, under float16 rounding of GELU's outputs above 1).
  bool exact_gelu = false;
  // Q/DQ models: run every QuantizeLinear/DequantizeLinear pair as written. By default the pairs on attention's score
  // path (scores, probabilities) are dropped so attention fuses in float32 (docs/int8.md, fold_qdq_attention).
  bool exact_qdq = false;
  // Inputs the engine takes in another dtype than the model declares (--input-dtype NAME:fp16|bf16|uint8|fp32):
  // a Cast at the engine's start restores the model's type (folded where the widening is exact), so clients send
  // half (fp16) or a quarter (uint8 images) of float32's bytes. Floating-point inputs only; uint8 is not scaled.
  std::map<std::string, DType> input_dtypes;

  // INT8 calibration (precision "int8"; docs/int8.md). The build calibrates on calib_dir, or reads calib_cache,
  // writes a Q/DQ model (activations per-tensor uint8, constant Conv/MatMul/Gemm weights per-channel int8) and
  // compiles that; the fold pass turns the Q/DQ patterns into quantized ops. int8 without either is an error.
  std::string calib_dir;    // one subfolder per sample, one <input name>.npy or .pb per model input
  // A calibration cache (JSON, "kiln-calib" v1) of this model: read when it exists (a cache of another model is an
  // error); with calib_dir and no such file yet, calibration writes it.
  std::string calib_cache;
  // The precision of the float layers between int8 ones on a GPU backend (--int8-float): "fp16" (default; the float
  // ops of the int8 graph are lowered as --precision fp16 lowers them, quantize/dequantize included) or "fp32".
  // CPU engines keep float32 (their matmuls use bf16 only under --precision bf16).
  std::string int8_float = "fp16";
  std::string calib_method;        // minmax | entropy | percentile | mse; empty: mse
  double calib_percentile = 99.99;  // percentile method: the percentile of |x| kept unclipped, in (0, 100]
  int calib_batches = 0;            // samples (subfolders) used, in name order; 0: all
  std::string export_qdq;           // also write the Q/DQ model as ONNX to this path (loads in ONNX Runtime)

  // INT8 accuracy guard (docs/int8.md, "Accuracy guard"; needs precision int8 and calib_dir). The budget is
  // "[OUTPUT=]METRIC:VALUE[,...]", METRIC top1 | cosine | rel_l2 (no OUTPUT: every output); empty: no guard. Held-back
  // samples of calib_dir are kept out of calibration and measure INT8 against the FP32 engine of the same device;
  // the most sensitive Conv/MatMul/Gemm layers return to FP32 until the budget holds, else the build fails.
  std::string accuracy_budget;
  int accuracy_samples = 0;      // held-back samples; 0: a fifth of the samples (at least 1)
  std::string accuracy_report;   // write the guard's JSON report here (per-layer precision, sensitivity, metrics)
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
  std::string backend;    // the preferred backend of the build: "cpu", "cuda", "reference" (per-node: the plan)
  std::string precision;  // "fp32", "fp16", "int8" (calibrated Q/DQ), ...
  std::string device;     // description of the target device
  std::string source;     // model file it was built from
  // What the engine needs from the machine that runs it (GPU engines: gpu_name, gpu_arch "sm_90",
  // cuda_runtime, cublaslt, cudnn versions). Loading checks these and says how to rebuild on mismatch.
  std::map<std::string, std::string> compat;
  // The INT8 accuracy guard's result (BuildOptions::accuracy_budget; format v4), empty without one: the measured
  // metric against the budget ("cosine(logits) 0.999123 >= 0.999 on 2 held-back samples, 5/6 layers int8") and the
  // precision ("int8" | "fp32") of each quantizable layer, by ONNX node name, in graph order.
  std::string accuracy_guard;
  std::vector<std::pair<std::string, std::string>> layer_precision;
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
  // Loads an engine file onto the device options.gpu names (GPU engines; ignored for CPU engines). A GPU engine
  // whose compatibility keys (arch, CUDA, cuBLASLt, cuDNN) differ from that device's fails with the rebuild hint.
  static Result<std::shared_ptr<Engine>> load(const std::string& engine_path, const LoadOptions& options);
  // The CUDA device a GPU engine's weights and contexts live on (-1: a CPU engine, or not chosen yet: the first
  // compatible GPU at the first context). Engines built with --device cuda run on BuildOptions.gpu.
  int device() const { return device_; }

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

  // Contexts share the engine's weights (uploaded to the GPU once, on the first context); each context
  // has its own stream, activation memory and workspace, and may run on its own thread.
  std::unique_ptr<ExecutionContext> create_context() const;

  // Loads an engine without checking that this machine can run it (for `kiln inspect`).
  static Result<std::shared_ptr<Engine>> load_unchecked(const std::string& engine_path);
  // failed_precondition with a rebuild hint when this machine cannot run the engine (GPU arch, library versions).
  Status check_compatible() const;

  Engine(std::shared_ptr<const Graph> graph, EngineInfo info, std::vector<OptimizationProfile> profiles);
  ~Engine();

  // Backend state shared by all contexts (GPU weights); created on first use. Internal.
  std::shared_ptr<void> backend_state(Status* status) const;

 private:
  std::shared_ptr<const Graph> graph_;
  EngineInfo info_;
  std::vector<OptimizationProfile> profiles_;
  std::vector<TensorDesc> inputs_, outputs_;
  mutable std::mutex state_mu_;
  mutable std::shared_ptr<void> backend_state_;
  mutable Status backend_state_status_;
  int device_ = -1;  // set by load(path, LoadOptions) and by builds; read by the CUDA backend state
  std::shared_ptr<const std::vector<NodePlan>> plans_;  // plans[i] for graph().nodes[i]; null: none recorded
  friend struct EngineAccess;  // src/runtime/engine_access.h: device_ and plans_ for builds and loads
};

using NamedValues = std::vector<std::pair<std::string, Value>>;

// An input tensor that already lies in CUDA device memory (a CUDA shared-memory region, a PyTorch/CuPy tensor):
// ExecutionContext::bind_inputs copies it device-to-device into the context's input buffer, never through the
// host. CUDA engines only. The bytes must be final when bind_inputs is called: its copy is ordered after work
// already queued on the legacy default stream (what DLPack producers synchronize with) and no other stream.
struct DeviceTensorView {
  DType dtype = DType::kUndefined;
  Dims dims;
  const void* data = nullptr;  // a CUDA device (or managed) address; may be null only when the tensor is empty
};
using DeviceInputs = std::vector<std::pair<std::string, DeviceTensorView>>;

struct RunOptions {
  bool check_finite = false;  // reject NaN/Inf in float inputs with an error naming the input
};

// Wall times of the last run's phases, in milliseconds (GPU: measured with events on the context's stream).
struct RunTimings {
  double h2d_ms = 0;      // inputs host -> device (bind_inputs)
  double compute_ms = 0;  // execute()
  double d2h_ms = 0;      // outputs device -> host (fetch_outputs)
  bool graph_replayed = false;  // execute() replayed a captured CUDA graph
  std::string graph_note;       // why CUDA graphs are not used, when they were asked for and are not
};

// One node's time in the last profiled execute() (ExecutionContext::set_profiling).
struct LayerTiming {
  std::string node, op, placement, kernel;  // placement: cuda | cpu (fallback) | host
  double ms = 0;
};

// Device memory a context uses, in bytes.
struct ContextMemory {
  size_t weights = 0;          // shared by all contexts of the engine
  size_t activations_peak = 0; // peak of the liveness-planned activation arena over the shapes run so far
  size_t workspace = 0;
  size_t io_buffers = 0;
};

class ContextBackend;

class ExecutionContext {
 public:
  explicit ExecutionContext(const Engine& engine);
  ~ExecutionContext();
  // Validates inputs (names, dtypes, ranks, dims, profile ranges) and runs the engine. Outputs come
  // back in the engine's output order. Same as bind_inputs + execute + fetch_outputs.
  Status run(const NamedValues& inputs, NamedValues* outputs, const RunOptions& options = {});
  // The same with some inputs in CUDA device memory (a name is given in exactly one of the two lists).
  Status run(const NamedValues& host_inputs, const DeviceInputs& device_inputs, NamedValues* outputs,
             const RunOptions& options = {});
  // Only the input checks of run().
  Status validate_inputs(const NamedValues& inputs, const RunOptions& options = {}) const;

  // Split form for benchmarks and servers: bind (validate and copy inputs to where the engine runs: the GPU for
  // CUDA engines), execute any number of times on the bound inputs, then fetch outputs to the host.
  Status bind_inputs(const NamedValues& inputs, const RunOptions& options = {});
  // Binds host inputs and device-resident ones (DeviceTensorView): the device ones are copied device-to-device on
  // the context's stream; the caller may reuse both kinds of buffer once this returns. Engines of other backends
  // refuse device inputs naming the input; options.check_finite refuses them (it reads values on the host).
  Status bind_inputs(const NamedValues& host_inputs, const DeviceInputs& device_inputs,
                     const RunOptions& options = {});
  Status execute();
  // Runs execute() n times on the bound inputs. A CUDA engine whose graph for these shapes is already captured
  // (set_cuda_graph, after one execute()) queues the n replays without waiting in between, so throughput is
  // measured without a host round trip per run; last_timings().compute_ms is then the GPU time per run.
  Status execute_back_to_back(int n);
  Status fetch_outputs(NamedValues* outputs);
  // fetch_outputs for the outputs with wanted[i] (engine output order; wanted has one entry per output); the others
  // come back as an undefined Value, never copied (their bytes may still be read with device_output).
  Status fetch_outputs(NamedValues* outputs, const std::vector<bool>& wanted);
  // Output `index` of the last execute() where it lies on the GPU (CUDA engines): dtype, dims and device address,
  // valid until the next bind_inputs or execute on this context. The bytes are final (execute waits for the GPU);
  // copy them on any stream. failed_precondition when that output is on the host (made by a CPU fallback node) or
  // nothing was executed; unimplemented for engines of other backends.
  Result<DeviceTensorView> device_output(size_t index);

  // CUDA engines: capture each input-shape's execution into a CUDA graph and replay it (when every node of the
  // engine can be captured; otherwise this is silently off). Off by default.
  void set_cuda_graph(bool enabled);
  // Record per-node times in execute() (slower: synchronizes per node).
  void set_profiling(bool enabled);
  // Intra-op threads for CPU backends (n < 1: KILN_NUM_THREADS, else the cores this process may use).
  void set_num_threads(int n);
  std::vector<LayerTiming> layer_timings() const;
  RunTimings last_timings() const;
  ContextMemory memory() const;
  const Engine& engine() const { return engine_; }

 private:
  const Engine& engine_;
  std::unique_ptr<ContextBackend> backend_;
};

// Host memory for tensors that feed an ExecutionContext (servers' batch buffers). pinned: page-locked with
// cudaHostAlloc when the CUDA backend is built and a GPU is usable, so that a CUDA context's bind_inputs copies it
// to the device directly (no staging copy); otherwise, and always when !pinned, 64-byte-aligned pageable memory.
// The returned pointer frees the memory (cudaFreeHost or free) when its last owner goes away; wrap it with
// Tensor::wrap(dtype, dims, ptr.get(), ptr).
Result<std::shared_ptr<void>> allocate_host_buffer(size_t bytes, bool pinned);
// True when `p` lies in page-locked memory that CUDA can copy from asynchronously (always false without CUDA).
bool is_pinned_host_memory(const void* p);

// ---- Several GPUs: load-time device choice and device discovery --------------------------------------------
struct LoadOptions {
  int gpu = -1;  // CUDA device for a GPU engine; -1: the first visible GPU the engine is compatible with
};

// One CUDA device as Kiln sees it.
struct CudaDeviceDescription {
  int index = 0;
  std::string name;          // "NVIDIA H100 80GB HBM3"
  std::string arch;          // "sm_90"
  size_t total_memory = 0;   // bytes
  std::string uuid;          // "GPU-8c2b...": the form nvidia-smi and NVML print
  // The compatibility keys an engine built on this device records (gpu_name, gpu_arch, cuda_runtime, cublaslt,
  // cudnn): two devices with equal keys can share one engine file.
  std::map<std::string, std::string> compat;
  std::string compat_key() const;  // the keys as one "k=v;..." string (cache keys)
};
// Visible CUDA devices; 0 without a GPU or driver, or when Kiln is built without CUDA.
int cuda_device_count();
// not_found when `index` is not a visible device.
Result<CudaDeviceDescription> cuda_device(int index);

}  // namespace kiln
