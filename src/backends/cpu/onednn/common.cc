// Shared oneDNN helpers for the CPU kernels.
#include "backends/cpu/onednn/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpu/blocked.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/onednn/layout_reorder.h"
#include "ir/window_params.h"

namespace kiln::cpu::onednn {

using dnnl::algorithm;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static thread_local dnnl::stream s(engine());
  return s;
}

namespace {
thread_local TacticTuning* g_tactic_tuning = nullptr;
}  // namespace

TacticTuning* active_tactic_tuning() { return g_tactic_tuning; }
void set_active_tactic_tuning(TacticTuning* tuning) { g_tactic_tuning = tuning; }

void append_sum(dnnl::post_ops& ops, const std::optional<SumPostOp>& sum) {
  if (!sum) return;
  ops.append_sum(sum->scale, sum->zero_point,
                 sum->r_t == DType::kInt8 ? dnnl::memory::data_type::s8 : dnnl::memory::data_type::u8);
}

void parallel_copy(const CpuKernelContext& ctx, void* dst, const void* src, size_t bytes) {
  auto* to = static_cast<char*>(dst);
  const auto* from = static_cast<const char*>(src);
  const auto n = static_cast<int64_t>(bytes);
  kern::parallel_range(kern::threads_for(ctx, n), n, [&](int64_t lo, int64_t hi) {
    std::memcpy(to + lo, from + lo, static_cast<size_t>(hi - lo));
  });
}

std::unordered_map<int, dnnl::memory> zero_point_args(bool dst) {
  dnnl::memory zp(plain_md({1}, dnnl::memory::data_type::s32), engine());
  *static_cast<int32_t*>(zp.get_data_handle()) = 0;
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp}};
  if (dst) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, zp);
  return args;
}

dnnl::memory::dims to_dnnl(const Dims& d) { return dnnl::memory::dims(d.begin(), d.end()); }

dnnl::memory::desc plain_md(const Dims& d, dnnl::memory::data_type dt) {
  dnnl::memory::dims strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * std::max<int64_t>(d[i + 1], 1);
  return dnnl::memory::desc(to_dnnl(d), dt, strides);
}

bool is_f32(const Graph& g, const Node& node, size_t i, int rank) {
  if (!node.has_input(i)) return false;
  const TypeInfo* t = g.type_of(node.inputs[i]);
  if (!t || !t->is_tensor() || t->dtype != DType::kFloat32) return false;
  if (rank >= 0 && (!t->shape.rank_known || static_cast<int>(t->shape.rank()) != rank)) return false;
  return true;
}

bool int8_pairs_saturate() {
  static const bool v = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return !(isa == dnnl::cpu_isa::avx2_vnni || isa == dnnl::cpu_isa::avx512_core_vnni ||
             isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx);
  }();
  return v;
}

bool prefer_blocked16() {
  static const bool v = [] {
    const char* e = std::getenv("KILN_CPU_CONV_LAYOUT");
    if (e && std::string(e) == "any") return false;
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
           isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return v;
}

bool native_bf16() {
  static const bool native = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return native;
}

bool use_bf16(const CpuKernelContext& ctx) { return native_bf16() && ctx.allow_bf16(); }

bool int8_weights_safe(const int8_t* w, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= (w[i] > kInt8SafeWeight) | (w[i] < -kInt8SafeWeight);
  return bad == 0;
}

void shift_s8_to_u8(const int8_t* x, uint8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<uint8_t>(static_cast<int>(x[i]) + 128);
}

Result<dnnl::memory> source_memory(const CpuKernelContext& ctx, size_t i, const dnnl::memory& plain, dnnl::memory* tmp,
                                   const dnnl::memory::desc& want) {
  OnednnHandoff* h = onednn_handoff(ctx, i);
  if (h && h->mem.get_desc() == want) return h->mem;
  dnnl::memory other;
  if (blocked_source(ctx, i, want, &other)) return other;
  if (tmp) {
    // A hand-off in another layout or type (a float32 channels-last output read as bfloat16, 8- read as
    // 16-channel blocks) converts in one reorder instead of through the plain bytes (two).
    dnnl::memory held;
    if (h) {
      held = h->mem;
    } else if (CpuHandoff* hb = ctx.input_handoff(i)) {
      if (const BlockedView v = hb->blocked()) held = dnnl::memory(blocked_md(v.dims, v.block), engine(), v.data);
    }
    if (held && held.get_desc().dims() == want.dims()) {
      if (!*tmp) *tmp = dnnl::memory(want, engine());
      reorder(held, *tmp);
      return *tmp;
    }
  }
  if (CpuHandoff* any = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(any->materialize());
  if (!tmp) return plain;
  if (!*tmp) *tmp = dnnl::memory(want, engine());
  reorder(plain, *tmp);
  return *tmp;
}

void publish_blocked_output(CpuKernelContext& ctx, const dnnl::memory& blocked, const dnnl::memory& plain,
                            std::shared_ptr<OnednnHandoff>* handoff) {
  if (!ctx.private_output(0)) {
    reorder(blocked, plain);
    return;
  }
  if (!*handoff) *handoff = std::make_shared<OnednnHandoff>();
  (*handoff)->mem = blocked;
  (*handoff)->plain = plain;
  (*handoff)->in_place = false;
  ctx.attach_handoff(0, *handoff);
}

void publish_in_place_output(CpuKernelContext& ctx, const dnnl::memory& held, const dnnl::memory& plain,
                             std::shared_ptr<OnednnHandoff>* handoff) {
  if (!*handoff) *handoff = std::make_shared<OnednnHandoff>();
  (*handoff)->mem = held;
  (*handoff)->plain = plain;
  (*handoff)->in_place = true;
  ctx.attach_handoff(0, *handoff);
}

DType dtype_of(const Graph& g, const Node& node, size_t i) {
  if (!node.has_input(i)) return DType::kUndefined;
  const TypeInfo* t = g.type_of(node.inputs[i]);
  return t && t->is_tensor() ? t->dtype : DType::kUndefined;
}

int rank_of(const Graph& g, const Node& node, size_t i) {
  if (!node.has_input(i)) return -1;
  const TypeInfo* t = g.type_of(node.inputs[i]);
  if (!t || !t->is_tensor() || !t->shape.rank_known) return -1;
  return static_cast<int>(t->shape.rank());
}

std::string compute_window(const Attrs& a, const Dims& in, const Dims& kernel, bool ceil_mode, Window* w) {
  auto r = resolve_window(a, in, kernel, ceil_mode);
  if (!r.ok()) return r.status().message();
  const size_t nd = r->nd;
  w->strides = r->strides;
  w->dilations = r->dilations;
  w->pad_l.assign(r->pads.begin(), r->pads.begin() + nd);
  w->pad_r.assign(r->pads.begin() + nd, r->pads.end());
  w->out = r->out;
  return "";
}

bool append_activation(dnnl::post_ops& ops, const fused::Activation& act) {
  using K = fused::ActKind;
  switch (act.kind) {
    case K::kNone: return true;
    case K::kRelu: ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); return true;
    case K::kLeakyRelu: ops.append_eltwise(1.f, algorithm::eltwise_relu, act.alpha, 0.f); return true;
    case K::kSigmoid: ops.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); return true;
    case K::kTanh: ops.append_eltwise(1.f, algorithm::eltwise_tanh, 0.f, 0.f); return true;
    case K::kClip: {
      float lo = std::isfinite(act.alpha) ? act.alpha : -3.4e38f, hi = std::isfinite(act.beta) ? act.beta : 3.4e38f;
      ops.append_eltwise(1.f, algorithm::eltwise_clip, lo, hi);
      return true;
    }
    case K::kSilu: ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f); return true;
    case K::kGelu: ops.append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f); return true;
    case K::kGeluTanh: ops.append_eltwise(1.f, algorithm::eltwise_gelu_tanh, 0.f, 0.f); return true;
    case K::kHardSigmoid:
      ops.append_eltwise(1.f, algorithm::eltwise_linear, act.alpha, act.beta);
      ops.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 1.f);
      return true;
    case K::kHardSwish:  // x * clip(x/6 + 1/2, 0, 1); versions without the parameters ignore them
      ops.append_eltwise(1.f, algorithm::eltwise_hardswish, 1.f / 6.f, 0.5f);
      return true;
  }
  return false;
}

bool make_eltwise_chain(const fused::Activation& act, const dnnl::memory::desc& md, std::vector<dnnl::eltwise_forward>* out) {
  dnnl::post_ops ops;
  if (!append_activation(ops, act)) return false;
  out->clear();
  for (int i = 0; i < ops.len(); ++i) {
    float scale = 1.f, alpha = 0.f, beta = 0.f;
    algorithm alg;
    ops.get_params_eltwise(i, scale, alg, alpha, beta);
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, md, alpha, beta);
    out->emplace_back(dnnl::eltwise_forward::primitive_desc(d, engine()));
  }
  return true;
}

void reorder(const dnnl::memory& from, const dnnl::memory& to) {
  // Plain <-> channels-last float32/bf16 by hand (layout_reorder.h; KILN_CPU_LAYOUT_REORDER=0: oneDNN's reorders).
  static const bool by_hand = [] {
    const char* e = std::getenv("KILN_CPU_LAYOUT_REORDER");
    return !(e && std::string(e) == "0");
  }();
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (by_hand && layout_reorder(from, to, threads)) return;
  // Reorder primitives are kept per (source, destination) descriptor pair, keyed by the descriptors' bytes (equal
  // bytes mean equal layouts; unequal bytes at worst cost another entry): creating one per call was a tenth of a
  // small CNN's batch-1 run. Bounded: the cache starts over past 4096 pairs.
  thread_local std::unordered_map<std::string, dnnl::reorder> cache;
  const dnnl_memory_desc_t a = from.get_desc().data;
  const dnnl_memory_desc_t b = to.get_desc().data;
  std::string key(reinterpret_cast<const char*>(&a), sizeof a);
  key.append(reinterpret_cast<const char*>(&b), sizeof b);
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= 4096) cache.clear();
    it = cache.emplace(std::move(key), dnnl::reorder(from, to)).first;
  }
  it->second.execute(stream(), const_cast<dnnl::memory&>(from), const_cast<dnnl::memory&>(to));
}

Status OnednnHandoff::materialize() {
  try {
    if (in_place) {
      if (mem.get_desc() == plain.get_desc()) return ok_status();  // done already this run
      // `mem` lives in the plain bytes: convert through a copy, then describe the plain result as what is held.
      // (The copy is this thread's, reused: no allocation per run.)
      const size_t n = mem.get_desc().get_size();
      thread_local std::vector<char> copy;
      if (copy.size() < n) copy.resize(n);
      std::memcpy(copy.data(), mem.get_data_handle(), n);
      reorder(dnnl::memory(mem.get_desc(), engine(), copy.data()), plain);
      stream().wait();
      mem = plain;
      return ok_status();
    }
    reorder(mem, plain);
    stream().wait();
  } catch (const dnnl::error& e) {
    return internal_error(std::string("oneDNN reorder: ") + e.what());
  }
  return ok_status();
}

dnnl::memory::desc channels_last_md(const Dims& dims, dnnl::memory::data_type t) {
  using tag = dnnl::memory::format_tag;
  const tag f = dims.size() == 3 ? tag::acb : dims.size() == 4 ? tag::acdb : tag::acdeb;
  return dnnl::memory::desc(to_dnnl(dims), t, f);
}

dnnl::memory::desc blocked_md(const Dims& dims, int64_t block) {
  using tag = dnnl::memory::format_tag;
  const size_t r = dims.size();
  tag t = tag::undef;
  if (block == 8) t = r == 3 ? tag::aBc8b : r == 4 ? tag::aBcd8b : r == 5 ? tag::aBcde8b : tag::undef;
  if (block == 16) t = r == 3 ? tag::aBc16b : r == 4 ? tag::aBcd16b : r == 5 ? tag::aBcde16b : tag::undef;
  if (t == tag::undef) return dnnl::memory::desc();
  return dnnl::memory::desc(to_dnnl(dims), dnnl::memory::data_type::f32, t);
}

BlockedView OnednnHandoff::blocked() const {
  const dnnl::memory::desc d = mem.get_desc();
  const int r = d.data.ndims;
  if (r < 3 || r > 5 || d.data.data_type != dnnl_f32) return {};
  Dims dims(d.data.dims, d.data.dims + r);
  for (int64_t b : {8, 16})
    if (d == blocked_md(dims, b)) return BlockedView{static_cast<float*>(mem.get_data_handle()), dims, b};
  return {};
}

bool blocked_source(const CpuKernelContext& ctx, size_t i, const dnnl::memory::desc& want, dnnl::memory* out) {
  CpuHandoff* h = ctx.input_handoff(i);
  if (!h) return false;
  BlockedView v = h->blocked();
  if (!v) return false;
  if (blocked_md(v.dims, v.block) != want) {
    // A 1-D tensor read by a convolution that runs it as 2-D with H = 1 (conv.cc): the same bytes.
    Dims lifted = v.dims;
    if (lifted.size() != 3) return false;
    lifted.insert(lifted.begin() + 2, 1);
    if (blocked_md(lifted, v.block) != want) return false;
  }
  *out = dnnl::memory(want, engine(), v.data);
  return true;
}

OnednnHandoff* onednn_handoff(const CpuKernelContext& ctx, size_t i) {
  CpuHandoff* h = ctx.input_handoff(i);
  return h && std::string(h->family()) == "onednn" ? static_cast<OnednnHandoff*>(h) : nullptr;
}

const void* channels_last_input(const CpuKernelContext& ctx, size_t i, dnnl::memory::data_type t) {
  // KILN_CPU_CHANNELS_LAST=0: the hand-written kernels materialize instead (read per call: tests compare both ways).
  if (const char* e = std::getenv("KILN_CPU_CHANNELS_LAST"); e && std::string(e) == "0") return nullptr;
  const OnednnHandoff* h = onednn_handoff(ctx, i);
  const Dims& d = ctx.input(i).dims();
  if (!h || d.size() < 3 || d.size() > 5 || h->mem.get_desc() != channels_last_md(d, t)) return nullptr;
  return h->mem.get_data_handle();
}

bool channels_last_bf16_output(const CpuKernelContext& ctx) {
  if (!ctx.readers_round_to_bf16(0)) return false;
  const char* knob = std::getenv("KILN_CPU_BF16_HANDOFF");
  return !(knob && std::string(knob) == "0");
}

void publish_channels_last_output(CpuKernelContext& ctx, const Dims& od, dnnl::memory::data_type t, void* y) {
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<BlockedOutputState>();
  auto& st = *static_cast<BlockedOutputState*>(slot.get());
  auto handoff = std::static_pointer_cast<OnednnHandoff>(st.channels_last);
  publish_in_place_output(ctx, dnnl::memory(channels_last_md(od, t), engine(), y),
                          dnnl::memory(plain_md(od, t), engine(), y), &handoff);
  st.channels_last = handoff;
}

Status materialize_inputs(const CpuKernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (CpuHandoff* h = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(h->materialize());
  return ok_status();
}

Status dnnl_failure(const CpuKernelContext& ctx, const dnnl::error& e) {
  return ctx.unsupported(std::string("oneDNN: ") + e.what());
}

}  // namespace kiln::cpu::onednn
