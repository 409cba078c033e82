// The CUDA backend's kernel contract: one host function per op that reads device inputs from a
// CudaKernelContext, checks them, allocates outputs and enqueues work on the context's stream.
// Device code lives in <op>.cu files that expose plain launch functions (raw pointers, sizes, stream);
// <op>.cc files hold the host side (checks, shapes, dispatch by dtype, tactics).
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cuda {

// A tensor in device memory. A view: it does not own its bytes (the context's arena or the engine's
// weights do). Contiguous, row-major, in the dims' order.
struct DeviceTensor {
  void* data = nullptr;
  DType dtype = DType::kUndefined;
  Dims dims;
  int64_t numel() const;
  size_t nbytes() const;
  template <class T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
};

// Everything a CUDA kernel sees while it runs one node. Implemented by the runtime (one per context).
class CudaKernelContext {
 public:
  virtual ~CudaKernelContext() = default;
  virtual const Node& node() const = 0;
  const Attrs& attrs() const { return node().attrs; }

  virtual cudaStream_t stream() const = 0;
  virtual cublasLtHandle_t cublaslt() const = 0;
  virtual cudnnHandle_t cudnn() const = 0;
  virtual const cudaDeviceProp& device_props() const = 0;
  // Whether float32 math may use TF32 tensor cores (engine precision tf32 or best).
  virtual bool allow_tf32() const = 0;

  virtual size_t num_inputs() const = 0;
  virtual bool has_input(size_t i) const = 0;  // false for an omitted optional input
  // Metadata of input i without moving its bytes.
  virtual DType input_dtype(size_t i) const = 0;
  virtual const Dims& input_dims(size_t i) const = 0;
  // True when input i is an engine weight (its bytes never change between runs).
  virtual bool input_is_constant(size_t i) const = 0;
  // Input i in device memory (uploaded first if it lives on the host).
  virtual Result<DeviceTensor> input(size_t i) = 0;
  // Input i in host memory: for small shape-like inputs (Reshape's shape, Slice's starts, TopK's k).
  // Synchronizes the stream when the value lives on the device; such a node cannot be graph-captured.
  virtual Result<Tensor> host_input(size_t i) = 0;

  virtual size_t num_outputs() const = 0;
  virtual bool wants_output(size_t i) const = 0;  // false for an optional output nobody reads
  // Device memory for output i (uninitialized). Outputs nobody reads must still be allocated if the
  // kernel writes them; allocation of a zero-element tensor returns data == nullptr.
  virtual Result<DeviceTensor> allocate_output(size_t i, DType dtype, const Dims& dims) = 0;
  // Output i is input j's bytes viewed with `dims` (same numel): Reshape, Flatten, Squeeze, Identity.
  virtual Status alias_output(size_t i, size_t j, const Dims& dims) = 0;
  // Scratch memory valid until this kernel returns control to the stream's next node.
  virtual Result<void*> workspace(size_t bytes) = 0;

  // Tactic chosen for this node at build time (0 when the kernel has one tactic or was not tuned): the one tuned at
  // this run's input shape when the build tuned several (one per optimization profile's opt shape), else the first
  // profile's.
  virtual int64_t tactic() const = 0;
  // Whether tactic() was tuned at this run's shapes (always while tuning, and for untuned nodes). When false, a kernel
  // whose tactic indices mean different things at different shapes (cuDNN's plan lists) runs its shape-independent
  // default instead.
  virtual bool tactic_tuned_for_shape() const { return true; }
  // Per-(context, node) cache for descriptors and plans keyed by shape; lives as long as the context.
  virtual std::shared_ptr<void>& node_state() = 0;
  // True while the build-time tuner times this node's tactics (one thread, plain runs, never captured): kernels may
  // then run objects shared with other nodes and contexts that execution contexts must not share.
  virtual bool tuning() const { return false; }
  // Keeps this run's input shapes out of CUDA graphs (they run plain, launch by launch, from now on): for kernels whose
  // library engines compute wrong answers when replayed from a graph. Fails while a capture is under way (the context
  // then drops the capture and runs plainly). `why` goes into the context's graph note.
  virtual Status disallow_graph_capture(const std::string& why) { return ok_status(); }
  // True while this run is being captured into a CUDA graph: whatever the node enqueues is recorded and replayed
  // later, so host memory it copies from must outlive the graph (pageable temporaries must not be copied).
  virtual bool capturing() const { return false; }

  // invalid_argument / unimplemented naming the node.
  Status error(const std::string& msg) const;
  Status unsupported(const std::string& msg) const;
};

// One kernel. `supports` is asked at build time with the node's inferred input types (entries may be
// nullptr when unknown): answering false sends the node to the CPU reference backend, with copies.
// `num_tactics` is asked at build time, on the device, with real inputs of the profile's opt shape;
// the tuner times run() once per tactic and stores the fastest index on the node.
struct CudaKernel {
  Status (*run)(CudaKernelContext& ctx) = nullptr;
  bool (*supports)(const Node& node, const std::vector<const TypeInfo*>& input_types) = nullptr;  // null: all
  int (*num_tactics)(CudaKernelContext& ctx) = nullptr;                                           // null: 1
  // Human-readable name of a tactic for `kiln inspect` ("cublasLt algo 3", "flash-attention 64x64").
  std::string (*tactic_name)(const Node& node, int64_t tactic) = nullptr;
  // True when a tactic costs little to prepare and time (no plan compilation, e.g. cuBLASLt algorithms): the tuner
  // then times up to TuningOptions::max_cheap_tactics of them instead of max_tactics.
  bool cheap_tactics = false;
  // True when running `tactic` at the context's current shapes prevents CUDA graph capture (null: never). The build
  // then weighs the whole run with and without such tactics (planner.cc).
  bool (*tactic_breaks_graphs)(CudaKernelContext& ctx, int64_t tactic) = nullptr;
};

class CudaKernelRegistry {
 public:
  void add(OpKind op, CudaKernel k) { kernels_[op] = k; }
  const CudaKernel* find(OpKind op) const {
    auto it = kernels_.find(op);
    return it == kernels_.end() ? nullptr : &it->second;
  }
  size_t size() const { return kernels_.size(); }
  const std::map<OpKind, CudaKernel>& all() const { return kernels_; }

 private:
  std::map<OpKind, CudaKernel> kernels_;
};

// All CUDA kernels, registered family by family in register.cc.
const CudaKernelRegistry& cuda_kernels();

// Helpers for kernels.
bool is_float_dtype(DType t);  // float32, float16, bfloat16 (the dtypes CUDA float kernels take)
int64_t numel_of(const Dims& dims);

}  // namespace kiln::cuda
