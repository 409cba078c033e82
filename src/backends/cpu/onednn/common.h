// Helpers the oneDNN-backed CPU kernels share: the engine and per-thread stream, plain (row-major) memory
// descriptors, type checks for supports(), conv/pool window geometry, fused activations as post-ops and timing
// oneDNN's implementations against each other.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpu/blocked.h"
#include "backends/cpu/cpu_kernel.h"
#include "ir/infer/fused_ops.h"

namespace kiln::cpu::onednn {

dnnl::engine& engine();
dnnl::stream& stream();  // one per thread (contexts may run on several threads)

dnnl::memory::dims to_dnnl(const Dims& d);
// A float32 row-major descriptor of `d`.
dnnl::memory::desc plain_md(const Dims& d, dnnl::memory::data_type dt = dnnl::memory::data_type::f32);

// True when input i of `node` is present, a tensor of float32 and (rank >= 0) of that known rank.
bool is_f32(const Graph& g, const Node& node, size_t i, int rank = -1);
// True when oneDNN's int8 kernels on this CPU sum pairs of uint8*int8 products in int16 with saturation (no VNNI:
// AVX2, AVX-512 without VNNI): exact only for |weight| <= kInt8SafeWeight (checked once per weight tensor).
bool int8_pairs_saturate();
constexpr int kInt8SafeWeight = 64;
// True when every value of an int8 tensor is within +-kInt8SafeWeight.
bool int8_weights_safe(const int8_t* w, int64_t n);
// True when convolutions should ask for 16-channel-blocked activations (AVX-512 CPUs, unless
// KILN_CPU_CONV_LAYOUT=any): see conv.cc.
bool prefer_blocked16();
// True when `--precision bf16` (or best) lets this context's convolutions and matmuls run in bfloat16 and the CPU
// has native bf16 dot products (AVX512-BF16 or AMX; oneDNN emulates bf16 more slowly than float32 elsewhere).
// Inputs and weights are rounded to bf16; products accumulate and outputs stay in float32.
bool use_bf16(const CpuKernelContext& ctx);
// Whether this CPU has native bf16 dot products (AVX512-BF16 or AMX).
bool native_bf16();
// uint8 copy of int8 values shifted by +128 (an int8 operand with zero point z equals this with zero point z + 128).
void shift_s8_to_u8(const int8_t* x, uint8_t* y, int64_t n);

// The build-time dtype of input i (kUndefined when absent or unknown).
DType dtype_of(const Graph& g, const Node& node, size_t i);
// The known rank of input i, or -1.
int rank_of(const Graph& g, const Node& node, size_t i);

// Conv/pool window geometry for `in` spatial sizes (ONNX attribute rules, auto_pad included).
struct Window {
  Dims strides, dilations, pad_l, pad_r, out;
};
// Empty string when fine, else the reason.
std::string compute_window(const Attrs& a, const Dims& in, const Dims& kernel, bool ceil_mode, Window* w);

// The fastest of `runs` executions (after one warm-up) of `pd`'s implementation, in seconds, on zero-filled memories
// in its own layouts; `extra` adds arguments the primitive needs beyond src/weights/bias/dst/scratchpad (zero points).
template <typename PD, typename Prim>
double time_impl(const PD& pd, const std::unordered_map<int, dnnl::memory>& extra, int runs) {
  // Each buffer 64 KiB longer than its descriptor: oneDNN 2.6's AMX int8 1x1 convolutions with runtime zero points
  // write past the end (qconv.cc slack_memory).
  std::vector<std::vector<uint8_t>> keep;
  auto zeroed = [&keep](const dnnl::memory::desc& md) {
    keep.emplace_back(md.get_size() + (64 << 10), 0);
    return dnnl::memory(md, engine(), keep.back().data());
  };
  keep.reserve(6);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, zeroed(pd.src_desc())},
                                             {DNNL_ARG_WEIGHTS, zeroed(pd.weights_desc())},
                                             {DNNL_ARG_DST, zeroed(pd.dst_desc())},
                                             {DNNL_ARG_SCRATCHPAD, zeroed(pd.scratchpad_desc())}};
  if (pd.bias_desc().get_size()) args.emplace(DNNL_ARG_BIAS, zeroed(pd.bias_desc()));
  for (const auto& [k, m] : extra) args[k] = m;
  Prim prim(pd);
  prim.execute(stream(), args);
  stream().wait();
  double t = 1e30;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    prim.execute(stream(), args);
    stream().wait();
    t = std::min(t, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return t;
}

// An int8 implementation that sums uint8 x int8 products in saturating 16-bit pairs (oneDNN's AVX2, SSE4.1 and
// pre-VNNI AVX-512 kernels) on a CPU whose first choice is exact (VNNI or AMX): it would be wrong for weights beyond
// +-64, so it is never a tactic there (the timing race picked AVX2 kernels now and then on a busy AMD EPYC, and
// CpuDynamicQuant.ConvIntegerExact failed). On CPUs without VNNI the kernels guard the weights instead.
template <typename PD>
bool inexact_int8_impl(const PD& pd) {
  const auto dt = pd.src_desc().data_type();
  if (dt != dnnl::memory::data_type::u8 && dt != dnnl::memory::data_type::s8) return false;
  if (int8_pairs_saturate()) return false;
  const std::string n = pd.impl_info_str();
  const size_t colon = n.rfind(':');
  const std::string isa = colon == std::string::npos ? "" : n.substr(colon + 1);
  return isa == "avx2" || isa == "sse41" || isa == "avx" || isa == "avx512_core" || isa == "avx512_common";
}

// Per-node tactic timing: oneDNN lists every implementation that can run a primitive descriptor (next_impl), and
// its first choice is not always the fastest on this CPU (an AVX-512 deconvolution with 8 output channels ran 3-5x
// slower than oneDNN's AVX2 kernel for the same node). Times up to `max_impls` implementations (reference ones
// skipped), each on zero-filled memories in its own layouts (one warm-up, then the best of `runs`), and returns the
// fastest; `pd` itself when it is the only one. Costs a few runs of the node once per shape.
template <typename PD, typename Prim>
PD fastest_impl(PD pd, int max_impls = 4, int runs = 2, double* best_seconds = nullptr) {
  PD best = pd;
  double best_s = -1;
  int seen = 0;
  do {
    if (std::string(pd.impl_info_str()).find("ref") != std::string::npos || inexact_int8_impl(pd)) continue;
    ++seen;
    const double t = time_impl<PD, Prim>(pd, {}, runs);
    if (best_s < 0 || t < best_s) {
      best_s = t;
      best = pd;
    }
  } while (seen < max_impls && pd.next_impl());
  if (best_seconds) *best_seconds = best_s < 0 ? 1e30 : best_s;
  return best;
}

// ---- Build-time tactics (NodePlan tactic / tactic_name) ----
// A kernel whose primitive oneDNN can run with several implementations (AMX or AVX512-VNNI, brgemm or direct jit
// kernels) runs the one its plan names: position `tactic` in oneDNN's list for the node's descriptor, named
// `tactic_name`. The build switches a TacticTuning on around one trial run (cpu/tactic_tuning.h); kernels then time
// their candidates at the shapes they meet and record the fastest per node.
struct TacticTuning {
  std::unordered_map<const Node*, std::pair<int64_t, std::string>> chosen;
};
// The tuning switched on for the calling thread, or null.
TacticTuning* active_tactic_tuning();
void set_active_tactic_tuning(TacticTuning* tuning);

// make()'s fresh descriptor moved to the plan's tactic: oneDNN's implementation at position plan->tactic when its
// name is plan->tactic_name on this CPU, else oneDNN's first choice.
template <typename PD, typename Make>
PD pick_tactic(Make&& make, const NodePlan* plan) {
  PD pd = make();
  if (!plan || plan->tactic <= 0 || plan->tactic_name.empty()) return pd;
  for (int64_t k = 0; k < plan->tactic; ++k)
    if (!pd.next_impl()) return make();
  return std::string(pd.impl_info_str()) == plan->tactic_name && !inexact_int8_impl(pd) ? pd : make();
}

// The position and name of the fastest of the first `max_impls` non-reference implementations of make()'s
// descriptor (time_impl with `extra`, two rounds over the candidates, the best of each kept); (0, first name) when
// there is one. Another implementation must beat oneDNN's first choice by 10%: timings on a shared machine drift
// by a few percent, and the first choice is the safer bet when they are close.
template <typename PD, typename Prim, typename Make>
std::pair<int64_t, std::string> fastest_tactic(Make&& make, const std::unordered_map<int, dnnl::memory>& extra,
                                               int max_impls = 4) {
  struct Candidate {
    int64_t k;
    PD pd;
    double s;
  };
  std::vector<Candidate> cands;
  PD pd = make();
  int64_t k = 0;
  do {
    if (std::string(pd.impl_info_str()).find("ref") == std::string::npos && !inexact_int8_impl(pd))
      cands.push_back({k, pd, 1e30});
    ++k;
  } while (static_cast<int>(cands.size()) < max_impls && pd.next_impl());
  if (cands.empty()) return {0, make().impl_info_str()};
  if (cands.size() > 1)
    for (int round = 0; round < 2; ++round)
      for (Candidate& c : cands) c.s = std::min(c.s, time_impl<PD, Prim>(c.pd, extra, 2));
  const Candidate* best = &cands[0];
  for (const Candidate& c : cands)
    if (c.s < best->s && c.s < 0.9 * cands[0].s) best = &c;
  return {best->k, best->pd.impl_info_str()};
}

// The descriptor a kernel with tactics runs for input shape `x` (recorded as "<implementation> @ [dims]"):
// - while the build tunes: the fastest implementation here (fastest_tactic), recorded for the node;
// - at the shape the plan's tactic was tuned at: that implementation (pick_tactic);
// - at another shape, for kernels whose outputs do not depend on the implementation (`same_bits`: integer
//   products, one requantization): timed again here, once per shape and context; else oneDNN's first choice.
// `extra` as for time_impl.
template <typename PD, typename Prim, typename Make>
PD tactic_descriptor(const CpuKernelContext& ctx, Make&& make, const std::unordered_map<int, dnnl::memory>& extra,
                     const Dims& x, bool same_bits) {
  const std::string at = " @ " + dims_to_string(x);
  if (TacticTuning* tuning = active_tactic_tuning()) {
    NodePlan tuned;
    std::tie(tuned.tactic, tuned.tactic_name) = fastest_tactic<PD, Prim>(make, extra);
    tuning->chosen[&ctx.node()] = {tuned.tactic, tuned.tactic_name + at};
    return pick_tactic<PD>(make, &tuned);
  }
  const NodePlan* plan = ctx.plan();
  if (!plan || plan->tactic_name.empty()) {
    // No recorded tactic (the default: engine bytes stay reproducible): kernels with the same bits either way time
    // their candidates at their first run of a shape, unless KILN_CPU_TACTICS=0.
    const char* knob = std::getenv("KILN_CPU_TACTICS");
    if (!same_bits || (knob && std::string(knob) == "0")) return make();
    NodePlan timed;
    std::tie(timed.tactic, timed.tactic_name) = fastest_tactic<PD, Prim>(make, extra);
    return pick_tactic<PD>(make, &timed);
  }
  const size_t cut = plan->tactic_name.find(" @ ");
  if (cut == std::string::npos || plan->tactic_name.compare(cut, std::string::npos, at) == 0) {
    NodePlan here = *plan;
    here.tactic_name = plan->tactic_name.substr(0, cut);
    return pick_tactic<PD>(make, &here);
  }
  if (!same_bits) return make();
  NodePlan retuned;
  std::tie(retuned.tactic, retuned.tactic_name) = fastest_tactic<PD, Prim>(make, extra);
  return pick_tactic<PD>(make, &retuned);
}
// Zero-valued runtime zero points of the source and (when `dst`) the destination, for timing int8 primitives.
std::unordered_map<int, dnnl::memory> zero_point_args(bool dst);

// An 8-bit residual R added through oneDNN's sum post-op (FusedQLinearConv, QLinearMatMul's Kiln inputs 9-11):
// dst = ... + scale * (R - zero_point), with R's bytes placed in the destination first (reinterpreted as r_t).
struct SumPostOp {
  float scale = 0;
  int32_t zero_point = 0;
  DType r_t = DType::kUndefined;
  bool operator==(const SumPostOp&) const = default;
};
// Appends `sum` to `ops` (nothing when unset).
void append_sum(dnnl::post_ops& ops, const std::optional<SumPostOp>& sum);
// Copies `bytes` bytes from src to dst over the kernel's intra-op team.
void parallel_copy(const CpuKernelContext& ctx, void* dst, const void* src, size_t bytes);

// Appends `act` as eltwise post-ops; false when oneDNN cannot express it.
bool append_activation(dnnl::post_ops& ops, const fused::Activation& act);

// `act` as in-place eltwise primitives over `md` (for kernels whose post-op path is slow); false when impossible.
bool make_eltwise_chain(const fused::Activation& act, const dnnl::memory::desc& md, std::vector<dnnl::eltwise_forward>* out);

// Reorders `from` into `to` on this thread's stream (both already bound to memory).
void reorder(const dnnl::memory& from, const dnnl::memory& to);

// A blocked output handed from one oneDNN kernel to the next (cpu_kernel.h CpuHandoff); `plain` is the output
// tensor's bytes, filled only when someone needs them.
struct OnednnHandoff : CpuHandoff {
  dnnl::memory mem, plain;
  // `mem` occupies the output tensor's own bytes (`plain`'s): materialize() converts through a copy and then holds
  // the plain form (mem = plain), which readers that compare layouts see.
  bool in_place = false;
  const char* family() const override { return "onednn"; }
  Status materialize() override;
  BlockedView blocked() const override;  // when `mem` is dense aBc8b/aBcd8b/.. or 16b
};
// The channels-last (acb / acdb / acdeb) descriptor of dims [N, C, spatial...] (rank 3-5): the int8 convolutions'
// activation layout.
dnnl::memory::desc channels_last_md(const Dims& dims, dnnl::memory::data_type t);
// The oneDNN descriptor of a channel-blocked view's layout (aBcd8b, aBcd16b, ...), or a zero desc when there is none.
dnnl::memory::desc blocked_md(const Dims& dims, int64_t block);
// oneDNN memory over another kernel's channel-blocked hand-off on input i when its layout is `want` (or `want` is
// its 1-D form lifted to 2-D with H = 1).
bool blocked_source(const CpuKernelContext& ctx, size_t i, const dnnl::memory::desc& want, dnnl::memory* out);
// The hand-off attached to input i when it is oneDNN's, else null.
OnednnHandoff* onednn_handoff(const CpuKernelContext& ctx, size_t i);
// The memory a primitive reads input i from: the producer's blocked hand-off when it is already in `want`'s layout;
// otherwise the plain bytes `plain` (the hand-off, if any, fills them first), reordered into `*tmp` when `tmp` is set
// (the primitive wants blocks; an empty `*tmp` is allocated with `want` on first need). Kernels whose source is not
// input i's own bytes pass them as `plain` all the same.
Result<dnnl::memory> source_memory(const CpuKernelContext& ctx, size_t i, const dnnl::memory& plain, dnnl::memory* tmp,
                                   const dnnl::memory::desc& want);
// Publishes output 0 computed into the blocked `blocked`: hands it over (reusing `*handoff`) when every reader is a
// oneDNN kernel, else reorders it into the output tensor's plain bytes `plain`.
void publish_blocked_output(CpuKernelContext& ctx, const dnnl::memory& blocked, const dnnl::memory& plain,
                            std::shared_ptr<OnednnHandoff>* handoff);
// The bytes of input i when a oneDNN kernel handed it off channels-last (channels_last_md of the input's own dims)
// in data type `t`, else null (always null with KILN_CPU_CHANNELS_LAST=0). bf16 engines' convolutions write float32
// channels-last on AVX-512/AMX; the binary, unary, Concat and Resize kernels compute in that layout and hand it on.
const void* channels_last_input(const CpuKernelContext& ctx, size_t i, dnnl::memory::data_type t);
// Whether output 0, handed off channels-last, may be written in bfloat16: every reader rounds it to bf16 anyway
// (CpuKernelContext::readers_round_to_bf16; KILN_CPU_BF16_HANDOFF=0 says no). The kernel then rounds as it writes
// (floats_to_bf16, round to nearest even like oneDNN's reorder): the reader skips its float32 -> bf16 reorder.
bool channels_last_bf16_output(const CpuKernelContext& ctx);
// Hands output 0, of dims `od` and already written channels-last in its own bytes `y` (the caller checked
// private_output(0)), on as a channels-last hand-off kept in the node's state.
void publish_channels_last_output(CpuKernelContext& ctx, const Dims& od, dnnl::memory::data_type t, void* y);
// Hands over output 0 computed in oneDNN's layout `held` inside the output tensor's own bytes (`plain`'s; the caller
// checked private_output(0) and that the layout fits them): no per-node buffer, the arena plans the memory.
void publish_in_place_output(CpuKernelContext& ctx, const dnnl::memory& held, const dnnl::memory& plain,
                             std::shared_ptr<OnednnHandoff>* handoff);
// Fills the plain bytes behind every input's hand-off (kernels that read plain tensors only).
Status materialize_inputs(const CpuKernelContext& ctx);

// A oneDNN error as a Status naming the node (oneDNN throws dnnl::error).
Status dnnl_failure(const CpuKernelContext& ctx, const dnnl::error& e);

}  // namespace kiln::cpu::onednn
