// QLinearAdd / QLinearMul (docs/int8.md) on 8-bit tensors, in the reference's float32 math. Reads and hands on the
// channels-last (NHWC) layout of the int8 convolutions: the residual Add of two such tensors, and the per-channel
// Mul of squeeze-excitation blocks (the other operand [N|1, C, 1, ...]), run on those bytes, so the convolutions
// around them skip the reorders to plain NCHW and back. Everything else runs on plain tensors with numpy
// broadcasting. The handed-on bytes live in a per-node buffer, like the int8 convolution's own output.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/vec_math.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

// Built with -ffp-contract=off (CMakeLists.txt): products and sums round separately, as in the unfused
// DequantizeLinear -> Add/Mul -> QuantizeLinear.
namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;
using kern::Bcast;

bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }
memory::data_type dt_of(DType t) { return t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::u8; }

// Every 8-bit input is read as uint8 after `x ^ flip` (flip 0x80 for int8, with the zero point moved by 128), so
// one loop serves every type combination; C is stored as its own type's two's-complement byte.
struct QParams {
  float sa, za, sb, zb, sc, zc, lo, hi;
  uint8_t fa, fb;
};

template <bool kMul, int kSa, int kSb>
KILN_VINLINE void qbinary_row(const uint8_t* __restrict a, const uint8_t* __restrict b, uint8_t* __restrict c,
                              int64_t n, const QParams& p) {
  // Locals: the byte stores to c may alias p (char aliasing), which would reload it every element.
  const float sa = p.sa, za = p.za, sb = p.sb, zb = p.zb, sc = p.sc, zc = p.zc, lo = p.lo, hi = p.hi;
  const uint8_t fa = p.fa, fb = p.fb;
  for (int64_t i = 0; i < n; ++i) {
    const float x = (static_cast<float>(a[i * kSa] ^ fa) - za) * sa;
    const float y = (static_cast<float>(b[i * kSb] ^ fb) - zb) * sb;
    float q = std::nearbyint((kMul ? x * y : x + y) / sc) + zc;
    q = std::min(std::max(q, lo), hi);  // maxps/minps (q is never NaN here)
    c[i] = static_cast<uint8_t>(static_cast<int32_t>(q));
  }
}

template <bool kMul>
KILN_VINLINE void qbinary_strided(const uint8_t* a, int64_t sa, const uint8_t* b, int64_t sb, uint8_t* c, int64_t n,
                                  const QParams& p) {
  if (sa == 1 && sb == 1) qbinary_row<kMul, 1, 1>(a, b, c, n, p);
  else if (sa == 1) qbinary_row<kMul, 1, 0>(a, b, c, n, p);
  else if (sb == 1) qbinary_row<kMul, 0, 1>(a, b, c, n, p);
  else qbinary_row<kMul, 0, 0>(a, b, c, n, p);
}

KILN_CPU_CLONES void qbinary_rows(const uint8_t* a, int64_t sa, const uint8_t* b, int64_t sb, uint8_t* c, int64_t n,
                                  const QParams& p, bool mul) {
  if (mul) qbinary_strided<true>(a, sa, b, sb, c, n, p);
  else qbinary_strided<false>(a, sa, b, sb, c, n, p);
}

// Channels-last x (op) a per-channel vector: c[r * ch + j] = x[r * ch + j] (op) v[j] for `rows` pixels in one call
// (the generic broadcast loop calls once per pixel, rows too short for the vector loop to pay off: EfficientNet's
// first squeeze-excitation Mul, 112x112 pixels of 32 channels, cost 0.6 ms that way). x is operand A and v operand B
// of `p` (Add and Mul commute exactly in float32, so the caller swaps operands and their parameters freely).
// The vector's float values are formed once ((v - zb) * sb, the same float32 steps as per element).
template <bool kMul>
KILN_VINLINE void qbinary_pixel_rows(const uint8_t* __restrict x, const float* __restrict y, uint8_t* __restrict c,
                                     int64_t rows, int64_t ch, const QParams& p) {
  const float sa = p.sa, za = p.za, sc = p.sc, zc = p.zc, lo = p.lo, hi = p.hi;
  const uint8_t fa = p.fa;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* xr = x + r * ch;
    uint8_t* cr = c + r * ch;
    for (int64_t j = 0; j < ch; ++j) {
      const float xv = (static_cast<float>(xr[j] ^ fa) - za) * sa;
      float q = std::nearbyint((kMul ? xv * y[j] : xv + y[j]) / sc) + zc;
      q = std::min(std::max(q, lo), hi);  // maxps/minps (q is never NaN here)
      cr[j] = static_cast<uint8_t>(static_cast<int32_t>(q));
    }
  }
}
KILN_CPU_CLONES void qbinary_pixels(const uint8_t* x, const uint8_t* v, uint8_t* c, int64_t rows, int64_t ch,
                                    const QParams& p, bool mul) {
  std::vector<float> y(static_cast<size_t>(ch));
  for (int64_t j = 0; j < ch; ++j) y[j] = (static_cast<float>(v[j] ^ p.fb) - p.zb) * p.sb;
  if (mul) qbinary_pixel_rows<true>(x, y.data(), c, rows, ch, p);
  else qbinary_pixel_rows<false>(x, y.data(), c, rows, ch, p);
}

float scalar(const Tensor& t) { return t.data<float>()[0]; }
float zero_point(const CpuKernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return 0.f;
  const Tensor& z = ctx.input(i);
  return static_cast<float>(z.dtype() == DType::kInt8 ? z.data<int8_t>()[0] : z.data<uint8_t>()[0]);
}

// c = a (op) b over the broadcast of the dims given (logical, or permuted to the channels-last order).
void compute(const CpuKernelContext& ctx, const Dims& ad, const uint8_t* a, const Dims& bd, const uint8_t* b,
             uint8_t* c, const QParams& p, bool mul) {
  Bcast bc;
  make_bcast({&ad, &bd}, &bc);  // (checked by the caller)
  kern::for_each_row_piece(bc, kern::threads_for(ctx, dims_numel(bc.out)), [&](const int64_t* offs, int64_t o, int64_t n) {
    qbinary_rows(a + offs[0], bc.stride[0].back(), b + offs[1], bc.stride[1].back(), c + o, n, p, mul);
  });
}

// dims [N, C, S...] in channels-last order [N, S..., C] (the order of the bytes of oneDNN's acb/acdb/acdeb).
Dims channels_last_order(const Dims& d) {
  Dims r{d[0]};
  r.insert(r.end(), d.begin() + 2, d.end());
  r.push_back(d[1]);
  return r;
}

bool spatial_ones(const Dims& d) {
  for (size_t i = 2; i < d.size(); ++i)
    if (d[i] != 1) return false;
  return true;
}

struct QBinaryState {
  memory out;  // C in channels-last order when handed on
  std::shared_ptr<OnednnHandoff> handoff;
};

Status run_qbinary(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  const DType ct = ctx.has_input(7) ? ctx.input(7).dtype() : a.dtype();
  if (!is_q8(a.dtype()) || !is_q8(b.dtype()) || !is_q8(ct)) return ctx.unsupported("uint8/int8 A, B and C only");
  for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
    if (ctx.input(i).dtype() != DType::kFloat32 || ctx.input(i).numel() != 1)
      return ctx.unsupported("per-tensor float32 scales only");
  for (size_t i : {size_t{2}, size_t{5}, size_t{7}})
    if (ctx.has_input(i) && ctx.input(i).numel() != 1) return ctx.unsupported("per-tensor zero points only");
  Bcast check;
  if (!kern::make_bcast({&a.dims(), &b.dims()}, &check))
    return ctx.error("A " + dims_to_string(a.dims()) + " and B " + dims_to_string(b.dims()) + " do not broadcast");
  const Dims out = check.out;
  QParams p{scalar(ctx.input(1)), zero_point(ctx, 2), scalar(ctx.input(4)), zero_point(ctx, 5), scalar(ctx.input(6)),
            zero_point(ctx, 7), ct == DType::kInt8 ? -128.f : 0.f, ct == DType::kInt8 ? 127.f : 255.f,
            static_cast<uint8_t>(a.dtype() == DType::kInt8 ? 0x80 : 0),
            static_cast<uint8_t>(b.dtype() == DType::kInt8 ? 0x80 : 0)};
  if (p.fa) p.za += 128.f;
  if (p.fb) p.zb += 128.f;
  const bool mul = ctx.node().op == OpKind::kQLinearMul;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, ct, out));
  if (y->numel() == 0) return ok_status();
  try {
    // Channels-last: one operand is a full-size NHWC hand-off, the other one too or of spatial size 1 (whose
    // plain bytes are already in channels-last order).
    OnednnHandoff* ha = onednn_handoff(ctx, 0);
    OnednnHandoff* hb = onednn_handoff(ctx, 3);
    const size_t rank = out.size();
    auto full_nhwc = [&](OnednnHandoff* h, const Tensor& t) {
      return h && t.dims() == out && h->mem.get_desc() == channels_last_md(out, dt_of(t.dtype()));
    };
    const bool a_cl = rank >= 3 && rank <= 5 && full_nhwc(ha, a), b_cl = rank >= 3 && rank <= 5 && full_nhwc(hb, b);
    const bool a_ok = a_cl || (a.rank() == rank && spatial_ones(a.dims()));
    const bool b_ok = b_cl || (b.rank() == rank && spatial_ones(b.dims()));
    if ((a_cl || b_cl) && a_ok && b_ok && ctx.private_output(0)) {
      if (!a_cl && ha) KILN_RETURN_IF_ERROR(ha->materialize());
      if (!b_cl && hb) KILN_RETURN_IF_ERROR(hb->materialize());
      const auto* pa = static_cast<const uint8_t*>(a_cl ? ha->mem.get_data_handle() : a.raw());
      const auto* pb = static_cast<const uint8_t*>(b_cl ? hb->mem.get_data_handle() : b.raw());
      auto& slot = ctx.node_state();
      if (!slot) slot = std::make_shared<QBinaryState>();
      auto& s = *static_cast<QBinaryState*>(slot.get());
      const memory::desc md = channels_last_md(out, dt_of(ct));
      if (!s.out || s.out.get_desc() != md) s.out = memory(md, engine());
      auto* pc = static_cast<uint8_t*>(s.out.get_data_handle());
      const Tensor& vec = a_cl ? b : a;
      if (a_cl != b_cl && vec.rank() == rank && vec.dim(0) == 1 && vec.dim(1) == out[1]) {
        // One full channels-last operand, the other a [1, C, 1...] vector (squeeze-excitation): pixel loops.
        QParams q = p;
        if (b_cl) std::swap(q.sa, q.sb), std::swap(q.za, q.zb), std::swap(q.fa, q.fb);
        const int64_t ch = out[1], rows = dims_numel(out) / std::max<int64_t>(ch, 1);
        const uint8_t* x = a_cl ? pa : pb;
        const uint8_t* v = a_cl ? pb : pa;
        kern::parallel_range(kern::threads_for(ctx, dims_numel(out)), rows, [&](int64_t lo, int64_t hi) {
          qbinary_pixels(x + lo * ch, v, pc + lo * ch, hi - lo, ch, q, mul);
        });
      } else {
        compute(ctx, channels_last_order(a.dims()), pa, channels_last_order(b.dims()), pb, pc, p, mul);
      }
      publish_blocked_output(ctx, s.out, memory(plain_md(out, dt_of(ct)), engine(), y->raw()), &s.handoff);
      return ok_status();
    }
  } catch (const dnnl::error& e) {
    return dnnl_failure(ctx, e);
  }
  KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
  compute(ctx, a.dims(), static_cast<const uint8_t*>(a.raw()), b.dims(), static_cast<const uint8_t*>(b.raw()),
          static_cast<uint8_t*>(y->raw()), p, mul);
  return ok_status();
}

NodeSupport supports_qbinary(const Graph& g, const Node& n) {
  if (!is_q8(dtype_of(g, n, 0)) || !is_q8(dtype_of(g, n, 3))) return NodeSupport::no("qlinear_binary: uint8/int8 A and B only");
  if (n.has_input(7) && !is_q8(dtype_of(g, n, 7))) return NodeSupport::no("qlinear_binary: uint8/int8 C only");
  for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
    if (!is_f32(g, n, i)) return NodeSupport::no("qlinear_binary: float32 scales only");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_qbinary(CpuKernelRegistry& r) {
  for (OpKind op : {OpKind::kQLinearAdd, OpKind::kQLinearMul})
    r.add(op, {"qlinear_binary", supports_qbinary, run_qbinary, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
