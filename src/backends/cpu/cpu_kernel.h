// The CPU backend's kernel contract: a kernel declares which nodes it runs (supports, at build time, with the
// node's inferred types) and runs one node on host tensors, writing outputs the context allocates (from its
// activation arena once shapes are known). Kernels may keep prepared state (oneDNN primitives, reordered weights)
// per node in node_state(), keyed by whatever they depend on (input dims), so steady-state runs allocate nothing.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "runtime/backend.h"

namespace kiln::cpu {

// A producer's private form of an output (oneDNN's channel-blocked layout) that consumers of the same family read
// instead of the plain tensor, which the producer left unwritten. The context materializes it (fills the plain
// tensor) before any other reader could see the plain bytes.
// A dense channel-blocked float32 form of an N x C x spatial... tensor: [N][ceil(C/block)][spatial...][block],
// the lanes past C in the last block zero (oneDNN's aBcd8b / aBcd16b). Empty (data null) when there is none.
struct BlockedView {
  float* data = nullptr;
  Dims dims;          // the tensor's logical (plain) dims, rank >= 3
  int64_t block = 0;  // channels per block
  explicit operator bool() const { return data != nullptr; }
  int64_t channel_blocks() const { return (dims[1] + block - 1) / block; }
  int64_t spatial() const {
    int64_t s = 1;
    for (size_t i = 2; i < dims.size(); ++i) s *= dims[i];
    return s;
  }
  int64_t padded_numel() const { return dims[0] * channel_blocks() * block * spatial(); }
};

struct CpuHandoff {
  virtual ~CpuHandoff() = default;
  virtual const char* family() const = 0;  // who made it: "onednn", "blocked"
  // Fills the plain tensor. Readers may call it more than once; after it, blocked() may be empty (the private
  // form can live in the plain tensor's own bytes).
  virtual Status materialize() = 0;
  // The private form when it is channel-blocked float32 (BlockedView), else empty.
  virtual BlockedView blocked() const { return {}; }
};

// Everything a CPU kernel sees while it runs one node. Implemented by the CPU context (src/backends/cpu/cpu_context.cc).
class CpuKernelContext {
 public:
  virtual ~CpuKernelContext() = default;
  virtual const Node& node() const = 0;
  const Attrs& attrs() const { return node().attrs; }

  virtual size_t num_inputs() const = 0;
  virtual bool has_input(size_t i) const = 0;  // false for an omitted optional input
  // Input i (an undefined Tensor when absent). Contiguous, row-major.
  virtual const Tensor& input(size_t i) const = 0;
  // True when input i is an engine weight (its bytes never change between runs: safe to prepack once).
  virtual bool input_is_constant(size_t i) const = 0;

  virtual size_t num_outputs() const = 0;
  virtual bool wants_output(size_t i) const = 0;  // false for an optional output nobody reads
  // Memory for output i (uninitialized, 64-byte aligned). Kernels must write every element.
  virtual Result<Tensor*> allocate_output(size_t i, DType dtype, const Dims& dims) = 0;
  // Output i is input j's bytes viewed with `dims` (same numel): Reshape, Flatten, Squeeze, Unsqueeze, Identity.
  virtual Status alias_output(size_t i, size_t j, const Dims& dims) = 0;
  // Scratch memory (64-byte aligned) valid until this kernel returns.
  virtual Result<void*> workspace(size_t bytes) = 0;

  // Intra-op threads this kernel may use (>= 1); oneDNN and OpenMP loops are already limited to it.
  virtual int num_threads() const = 0;
  // Whether the engine asked for bf16 math where the kernel supports it (--precision bf16 on a CPU with bf16).
  virtual bool allow_bf16() const = 0;
  // Per-(context, node) slot for prepared state; lives as long as the context.
  virtual std::shared_ptr<void>& node_state() = 0;

  // Layout hand-off (optional; the defaults turn it off). private_output(i): output i is not a graph output and
  // every reader runs a kernel that takes hand-offs (CpuKernel::takes_handoffs); only then may the kernel attach
  // a hand-off and leave the plain output unwritten. input_handoff(i): the hand-off attached to input i, or null.
  virtual bool private_output(size_t i) const { return false; }
  // Output i is private and every reader rounds it to bfloat16 before using it (CpuKernel::bf16_inputs, in a
  // context that allows bf16): the producer may hand it off in bfloat16 without changing any result.
  virtual bool readers_round_to_bf16(size_t i) const { return false; }
  virtual void attach_handoff(size_t i, std::shared_ptr<CpuHandoff> h) {}
  virtual CpuHandoff* input_handoff(size_t i) const { return nullptr; }
  // The engine's plan for this node (its tactic: which oneDNN implementation the build measured fastest), or null.
  virtual const NodePlan* plan() const { return nullptr; }

  // invalid_argument / unimplemented naming the node.
  Status error(const std::string& msg) const;
  Status unsupported(const std::string& msg) const;
};

// One kernel. `supports` is asked at build time with the node's inferred types (graph.type_of(name) may have
// unknown dims, never unknown dtypes for float kernels: say no when a dtype is unknown). A node it refuses goes to
// the next backend (the reference). run() may still fail on shapes it did not foresee: that is an error for the
// request, so supports() must be conservative.
struct CpuKernel {
  const char* id = "";  // stored in NodePlan::kernel: "onednn_conv", "eltwise", ...
  NodeSupport (*supports)(const Graph& graph, const Node& node) = nullptr;  // null: every node of the op
  Status (*run)(CpuKernelContext& ctx) = nullptr;
  // The kernel accepts a hand-off on any input: it reads the private form or calls materialize() first.
  bool takes_handoffs = false;
  // Bit j set: with bf16 allowed (CpuKernelContext::allow_bf16) and the CPU's native bf16, the kernel rounds input j
  // to bfloat16 before computing with it (a convolution's X), so a bfloat16 hand-off there loses nothing.
  uint32_t bf16_inputs = 0;
};

class CpuKernelRegistry {
 public:
  // Several kernels may serve one op; the first whose supports() says yes wins.
  void add(OpKind op, CpuKernel k) { kernels_[static_cast<size_t>(op)].push_back(k); }
  const std::vector<CpuKernel>& find(OpKind op) const;
  // The first kernel that supports `node`, or nullptr with the first refusal's reason in *why.
  const CpuKernel* select(const Graph& graph, const Node& node, std::string* why) const;
  const CpuKernel* find_by_id(OpKind op, const std::string& id) const;

 private:
  std::vector<std::vector<CpuKernel>> kernels_ = std::vector<std::vector<CpuKernel>>(1024);
};

// The CPU backend's kernels, registered by family in src/backends/cpu/register.cc.
const CpuKernelRegistry& cpu_kernels();

// Whether idle OpenMP workers spin before sleeping (libgomp's default, OMP_WAIT_POLICY=active, or a non-zero
// GOMP_SPINCOUNT without a passive policy), read once from the environment libgomp read at start-up. A fork/join
// costs microseconds with spinning workers and a wake-up per worker without: kernels that fork per small step
// (RNN time steps) choose their threshold by it (docs/cpu-backend.md, Wait policy).
bool openmp_workers_spin();

}  // namespace kiln::cpu
