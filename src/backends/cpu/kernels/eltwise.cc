// Elementwise CPU kernels: float32 unary activations/math and binary arithmetic with NumPy broadcasting
// (float32; int32/int64 for Add/Sub/Mul), run as vectorized rows split across threads for large tensors.
#include "backends/cpu/kernels/eltwise.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/blocked.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/eltwise_rows.h"
#include "backends/cpu/onednn/common.h"

namespace kiln::cpu::kern {

// Float32 results computed per chunk before a kernel writes them as bf16 (channels_last_bf16_output).
constexpr int64_t kBf16Chunk = 1024;
namespace {

// The float parameters of a unary node, read from attributes or (Clip, opset >= 11) scalar inputs.
struct UnaryParams {
  UOp op = UOp::kIdentity;
  float p0 = 0.f, p1 = 0.f;
};

std::optional<UOp> unary_op_of(const Node& n) {
  switch (n.op) {
    case OpKind::kNeg: return UOp::kNeg;
    case OpKind::kAbs: return UOp::kAbs;
    case OpKind::kRelu: return UOp::kRelu;
    case OpKind::kSigmoid: return UOp::kSigmoid;
    case OpKind::kTanh: return UOp::kTanh;
    case OpKind::kExp: return UOp::kExp;
    case OpKind::kLog: return UOp::kLog;
    case OpKind::kSqrt: return UOp::kSqrt;
    case OpKind::kReciprocal: return UOp::kReciprocal;
    case OpKind::kErf: return UOp::kErf;
    case OpKind::kFloor: return UOp::kFloor;
    case OpKind::kCeil: return UOp::kCeil;
    case OpKind::kLeakyRelu: return UOp::kLeakyRelu;
    case OpKind::kClip: return UOp::kClip;
    case OpKind::kHardSigmoid: return UOp::kHardSigmoid;
    case OpKind::kHardSwish: return UOp::kHardSwish;
    case OpKind::kSoftplus: return UOp::kSoftplus;
    case OpKind::kElu: return UOp::kElu;
    case OpKind::kRound: return UOp::kRound;
    case OpKind::kSign: return UOp::kSign;
    case OpKind::kSwish: return UOp::kSwish;
    case OpKind::kMish: return UOp::kMish;
    case OpKind::kSoftsign: return UOp::kSoftsign;
    case OpKind::kSin: return UOp::kSin;
    case OpKind::kCos: return UOp::kCos;
    case OpKind::kSelu: return UOp::kSelu;
    case OpKind::kCelu: return UOp::kCelu;
    case OpKind::kThresholdedRelu: return UOp::kThresholdedRelu;
    case OpKind::kGelu: {
      const std::string a = n.attrs.get_string("approximate", "none");
      if (a == "none") return UOp::kGelu;
      if (a == "tanh") return UOp::kGeluTanh;
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

// Clip's bound from input i (opset >= 11) or attribute (older); +-inf when absent.
Status clip_bound(const CpuKernelContext& ctx, size_t i, const char* attr, float def, float* out) {
  *out = def;
  if (!ctx.has_input(i)) return ok_status();
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kFloat32 || t.numel() != 1)
    return ctx.error(std::string("input ") + std::to_string(i) + " (" + attr + ") must be a float32 scalar");
  *out = t.data<float>()[0];
  return ok_status();
}

Result<UnaryParams> unary_params(const CpuKernelContext& ctx) {
  UnaryParams p;
  auto op = unary_op_of(ctx.node());
  if (!op) return ctx.unsupported("unsupported unary op or attribute");
  p.op = *op;
  const Attrs& a = ctx.attrs();
  switch (p.op) {
    case UOp::kLeakyRelu: p.p0 = a.get_float("alpha", 0.01f); break;
    case UOp::kElu: p.p0 = a.get_float("alpha", 1.0f); break;
    case UOp::kSwish: p.p0 = a.get_float("alpha", 1.0f); break;
    case UOp::kSelu:
      p.p0 = a.get_float("alpha", 1.67326319217681884765625f);
      p.p1 = a.get_float("gamma", 1.05070102214813232421875f);
      break;
    case UOp::kCelu: p.p0 = a.get_float("alpha", 1.0f); break;
    case UOp::kThresholdedRelu: p.p0 = a.get_float("alpha", 1.0f); break;
    case UOp::kHardSigmoid:
      p.p0 = a.get_float("alpha", 0.2f);
      p.p1 = a.get_float("beta", 0.5f);
      break;
    case UOp::kClip:
      KILN_RETURN_IF_ERROR(clip_bound(ctx, 1, "min", -std::numeric_limits<float>::infinity(), &p.p0));
      KILN_RETURN_IF_ERROR(clip_bound(ctx, 2, "max", std::numeric_limits<float>::infinity(), &p.p1));
      break;
    default: break;
  }
  return p;
}

std::optional<BOp> binary_op_of(OpKind op) {
  switch (op) {
    case OpKind::kAdd: return BOp::kAdd;
    case OpKind::kSub: return BOp::kSub;
    case OpKind::kMul: return BOp::kMul;
    case OpKind::kDiv: return BOp::kDiv;
    case OpKind::kPow: return BOp::kPow;
    case OpKind::kMax: return BOp::kMax;
    case OpKind::kMin: return BOp::kMin;
    case OpKind::kPRelu: return BOp::kPRelu;
    default: return std::nullopt;
  }
}

template <typename T>
void int_row(BOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* y, int64_t n) {
  using U = std::make_unsigned_t<T>;  // wrap-around arithmetic without signed-overflow UB
  for (int64_t i = 0; i < n; ++i) {
    const U u = static_cast<U>(a[i * sa]), v = static_cast<U>(b[i * sb]);
    y[i] = static_cast<T>(op == BOp::kAdd ? u + v : (op == BOp::kSub ? u - v : u * v));
  }
}

// Binary arithmetic on channel-blocked operands (blocked.h): both inputs blocked alike with the output's dims,
// or one blocked input of the output's dims and a scalar or per-channel other operand ([N|1, C|1, 1, ...], plain
// or blocked: squeeze-excitation's x * s). Returns false (nothing written) when the output must be computed plain.
Result<bool> binary_blocked(CpuKernelContext& ctx, BOp op, const Dims& od) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != DType::kFloat32 || od.size() < 3 || od.size() > 5) return false;
  const BlockedView va = blocked_input(ctx, 0), vb = blocked_input(ctx, 1);
  const int xi = va && va.dims == od ? 0 : (vb && vb.dims == od ? 1 : -1);
  if (xi < 0) return false;
  const BlockedView& vx = xi == 0 ? va : vb;
  const BlockedView& vo = xi == 0 ? vb : va;
  const Tensor& o = xi == 0 ? b : a;
  const size_t oi = xi == 0 ? 1 : 0;
  enum { kSame, kScalar, kChannel } mode;
  const int64_t rank = static_cast<int64_t>(od.size()), n = od[0], c = od[1];
  Dims oa(rank, 1);  // o's dims right-aligned to the output's rank
  for (size_t d = 0; d < o.rank(); ++d) oa[rank - static_cast<int64_t>(o.rank()) + static_cast<int64_t>(d)] = o.dim(d);
  if (vo && vo.dims == od && vo.block == vx.block) {
    mode = kSame;
  } else if (o.numel() == 1) {
    mode = kScalar;
  } else {
    for (int64_t d = 2; d < rank; ++d)
      if (oa[d] != 1) return false;
    if ((oa[0] != 1 && oa[0] != n) || (oa[1] != 1 && oa[1] != c)) return false;
    mode = kChannel;
  }
  const bool o_blocked_vectors = mode == kChannel && vo && vo.block == vx.block && vo.dims == oa && oa[1] == c;
  if (mode != kSame && !o_blocked_vectors)
    if (CpuHandoff* h = ctx.input_handoff(oi)) KILN_RETURN_IF_ERROR(h->materialize());
  KILN_ASSIGN_OR_RETURN(BlockedView y, blocked_output(ctx, od, vx.block));
  if (!y) return false;
  const int64_t total = y.padded_numel(), bs = vx.block, cb = vx.channel_blocks(), sp = vx.spatial();
  const int threads = threads_for(ctx, op == BOp::kPow ? 8 * total : total);
  if (mode == kSame) {
    const float* pa = xi == 0 ? vx.data : vo.data;
    const float* pb = xi == 0 ? vo.data : vx.data;
    parallel_range(threads, total, [&](int64_t lo, int64_t hi) { binary_row(op, pa + lo, 1, pb + lo, 1, y.data + lo, hi - lo); });
  } else if (mode == kScalar) {
    const float v = o.data<float>()[0];
    parallel_range(threads, total, [&](int64_t lo, int64_t hi) {
      if (xi == 0) binary_row(op, vx.data + lo, 1, &v, 0, y.data + lo, hi - lo);
      else binary_row(op, &v, 0, vx.data + lo, 1, y.data + lo, hi - lo);
    });
  } else {
    // Per (batch item, channel block): the block's channel values repeated along a row, blended with X's rows.
    const auto st = strides(oa);
    const int64_t sn = oa[0] == 1 ? 0 : st[0], sc = oa[1] == 1 ? 0 : st[1];
    constexpr int64_t kReps = 64;
    parallel_range(threads, n * cb, [&](int64_t lo, int64_t hi) {
      alignas(64) float pattern[kReps * 16];
      for (int64_t it = lo; it < hi; ++it) {
        const int64_t ni = it / cb, bi = it % cb;
        float vec[16];
        if (o_blocked_vectors) {
          const float* src = vo.data + ((oa[0] == 1 ? 0 : ni) * cb + bi) * bs;
          for (int64_t l = 0; l < bs; ++l) vec[l] = src[l];
        } else {
          const float* od_ = o.data<float>();
          for (int64_t l = 0; l < bs; ++l) {
            const int64_t ch = bi * bs + l;
            vec[l] = ch < c ? od_[ni * sn + ch * sc] : 0.f;
          }
        }
        const int64_t reps = std::min(kReps, sp);
        for (int64_t r = 0; r < reps; ++r)
          for (int64_t l = 0; l < bs; ++l) pattern[r * bs + l] = vec[l];
        const float* xs = vx.data + it * sp * bs;
        float* ys = y.data + it * sp * bs;
        for (int64_t s0 = 0; s0 < sp; s0 += reps) {
          const int64_t len = std::min(reps, sp - s0) * bs;
          if (xi == 0) binary_row(op, xs + s0 * bs, 1, pattern, 1, ys + s0 * bs, len);
          else binary_row(op, pattern, 1, xs + s0 * bs, 1, ys + s0 * bs, len);
        }
      }
    });
  }
  zero_channel_pad(y, 1);
  return true;
}

}  // namespace

NodeSupport unary_supports(const Graph& g, const Node& n) {
  if (!unary_op_of(n)) return NodeSupport::no("attribute approximate is not 'none' or 'tanh'");
  if (n.op == OpKind::kClip) {
    if (n.opset > 0 && n.opset < 11) return NodeSupport::no("opset < 11 (bounds as attributes)");
    return require_dtypes(g, n, {0, 1, 2}, {DType::kFloat32});
  }
  return require_dtypes(g, n, {0}, {DType::kFloat32});
}

Status unary_run(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const UnaryParams p, unary_params(ctx));
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  const bool costly = p.op != UOp::kRelu && p.op != UOp::kNeg && p.op != UOp::kAbs && p.op != UOp::kClip;
  // A channel-blocked input stays blocked (the op is per element; the channel padding is zeroed again).
  if (const BlockedView bx = blocked_input(ctx, 0)) {
    KILN_ASSIGN_OR_RETURN(BlockedView by, blocked_output(ctx, x.dims(), bx.block));
    if (by) {
      const int64_t total = by.padded_numel();
      parallel_range(threads_for(ctx, costly ? 4 * total : total), total, [&](int64_t b, int64_t e) {
        unary_row(p.op, bx.data + b, by.data + b, e - b, p.p0, p.p1);
      });
      zero_channel_pad(by, 1);
      return ok_status();
    }
  }
  // A channels-last float32 hand-off (bf16 engines' convolutions) stays channels-last: the op over its bytes.
  const void* cl = x.rank() >= 3 && x.rank() <= 5 && ctx.private_output(0)
                       ? onednn::channels_last_input(ctx, 0, dnnl::memory::data_type::f32)
                       : nullptr;
  if (!cl) KILN_RETURN_IF_ERROR(materialize_all_inputs(ctx));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const float* xs = cl ? static_cast<const float*>(cl) : x.data<float>();
  float* ys = y->data<float>();
  const int64_t n = x.numel();
  const bool to_bf16 = cl && onednn::channels_last_bf16_output(ctx);
  parallel_range(threads_for(ctx, costly ? 4 * n : n), n, [&](int64_t b, int64_t e) {
    if (!to_bf16) return unary_row(p.op, xs + b, ys + b, e - b, p.p0, p.p1);
    float tmp[kBf16Chunk];
    for (int64_t i = b; i < e; i += kBf16Chunk) {
      const int64_t len = std::min<int64_t>(kBf16Chunk, e - i);
      unary_row(p.op, xs + i, tmp, len, p.p0, p.p1);
      floats_to_bf16(tmp, reinterpret_cast<uint16_t*>(ys) + i, len);
    }
  });
  if (cl)
    onednn::publish_channels_last_output(
        ctx, x.dims(), to_bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32, ys);
  return ok_status();
}

NodeSupport binary_supports(const Graph& g, const Node& n) {
  if (n.opset > 0 && n.opset < 7) return NodeSupport::no("opset < 7 (legacy broadcast attribute)");
  if (n.inputs.size() != 2) return NodeSupport::no("only two inputs");
  const DType a = input_dtype(g, n, 0), b = input_dtype(g, n, 1);
  if (a == DType::kFloat32 && b == DType::kFloat32) return NodeSupport::yes();
  const bool int_ok = n.op == OpKind::kAdd || n.op == OpKind::kSub || n.op == OpKind::kMul;
  if (int_ok && a == b && (a == DType::kInt32 || a == DType::kInt64)) return NodeSupport::yes();
  return NodeSupport::no(std::string("dtypes ") + dtype_name(a) + ", " + dtype_name(b));
}

// One operand handed off by a oneDNN kernel in channels-last float32 (what bf16 engines' convolutions write on
// AVX-512/AMX) with the output's dims, the other a per-channel [N|1, C|1, 1...] vector or a scalar (a
// squeeze-excitation's x * scale between two convolutions), or both operands such hand-offs (a residual Add of two
// convolutions' outputs, YOLO-style bottlenecks): computed in that layout, in the output tensor's own bytes, and
// handed on in it. Materializing to NCHW and back around such an op cost bf16 MobileNetV3 a fifth of its run. false
// (nothing done) for any other case, or when some reader needs the plain output.
namespace {
Result<bool> binary_channels_last(CpuKernelContext& ctx, BOp op, const Dims& od) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != DType::kFloat32 || od.size() < 3 || od.size() > 5 || !ctx.private_output(0)) return false;
  constexpr auto kF32 = dnnl::memory::data_type::f32, kBf16 = dnnl::memory::data_type::bf16;
  const void* ha = a.dims() == od ? onednn::channels_last_input(ctx, 0, kF32) : nullptr;
  const void* hb = b.dims() == od ? onednn::channels_last_input(ctx, 1, kF32) : nullptr;
  if (!ha && !hb) return false;
  // KILN_CPU_BINARY_CHANNELS_LAST=0 materializes instead (read per run: tests compare both in one process).
  if (const char* e = std::getenv("KILN_CPU_BINARY_CHANNELS_LAST"); e && std::string(e) == "0") return false;
  const bool to_bf16 = onednn::channels_last_bf16_output(ctx);
  if (ha && hb) {  // both in the same layout: one elementwise pass over the bytes
    const float* xa = static_cast<const float*>(ha);
    const float* xb = static_cast<const float*>(hb);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, od));
    float* yp = y->data<float>();
    const int64_t n = y->numel();
    parallel_range(threads_for(ctx, op == BOp::kPow ? 8 * n : n), n, [&](int64_t lo, int64_t hi) {
      if (!to_bf16) return binary_row(op, xa + lo, 1, xb + lo, 1, yp + lo, hi - lo);
      float tmp[kBf16Chunk];
      for (int64_t i = lo; i < hi; i += kBf16Chunk) {
        const int64_t len = std::min<int64_t>(kBf16Chunk, hi - i);
        binary_row(op, xa + i, 1, xb + i, 1, tmp, len);
        floats_to_bf16(tmp, reinterpret_cast<uint16_t*>(yp) + i, len);
      }
    });
    onednn::publish_channels_last_output(ctx, od, to_bf16 ? kBf16 : kF32, yp);
    return true;
  }
  const int xi = ha ? 0 : 1;
  const Tensor& o = xi == 0 ? b : a;
  const int64_t rank = static_cast<int64_t>(od.size()), n = od[0], c = od[1];
  Dims oa(rank, 1);  // o's dims right-aligned to the output's rank
  for (size_t d = 0; d < o.rank(); ++d) oa[rank - static_cast<int64_t>(o.rank()) + static_cast<int64_t>(d)] = o.dim(d);
  for (int64_t d = 2; d < rank; ++d)
    if (oa[d] != 1) return false;
  if ((oa[0] != 1 && oa[0] != n) || (oa[1] != 1 && oa[1] != c)) return false;
  if (CpuHandoff* h = ctx.input_handoff(xi == 0 ? 1 : 0)) KILN_RETURN_IF_ERROR(h->materialize());
  const float* x = static_cast<const float*>(xi == 0 ? ha : hb);
  const float* ov = o.data<float>();
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, od));
  float* yp = y->data<float>();
  int64_t sp = 1;
  for (int64_t d = 2; d < rank; ++d) sp *= od[d];
  const int64_t o_stride = oa[1] == c ? 1 : 0;  // along a row of C channels
  // Pixels per call: rows of C channels are short (EfficientNet's first squeeze-excitation has 32), so a block of
  // pixels runs as one call against the channel vector repeated across the block (same operations, same bits).
  const int64_t block = o_stride == 0 ? sp : std::max<int64_t>(1, 2048 / std::max<int64_t>(c, 1));
  parallel_range(threads_for(ctx, op == BOp::kPow ? 8 * n * sp * c : n * sp * c), n * sp, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<float> tiled;
    int64_t tiled_n = -1;
    for (int64_t r = lo; r < hi;) {
      const int64_t img = r / sp;
      const int64_t rows = std::min({hi - r, (img + 1) * sp - r, block});
      const float* orow = ov + (oa[0] == 1 ? 0 : img * oa[1]);
      if (o_stride == 1 && tiled_n != img) {
        tiled.resize(static_cast<size_t>(block * c));
        for (int64_t b = 0; b < block; ++b) std::copy(orow, orow + c, tiled.begin() + b * c);
        tiled_n = img;
      }
      const float* ob = o_stride == 1 ? tiled.data() : orow;
      const float* xrow = x + r * c;
      thread_local std::vector<float> rounded;  // the float32 results before they are written as bf16
      float* dst = yp + r * c;
      if (to_bf16) {
        rounded.resize(static_cast<size_t>(rows * c));
        dst = rounded.data();
      }
      if (xi == 0)
        binary_row(op, xrow, 1, ob, o_stride, dst, rows * c);
      else
        binary_row(op, ob, o_stride, xrow, 1, dst, rows * c);
      if (to_bf16) floats_to_bf16(dst, reinterpret_cast<uint16_t*>(yp) + r * c, rows * c);
      r += rows;
    }
  });
  onednn::publish_channels_last_output(ctx, od, to_bf16 ? kBf16 : kF32, yp);
  return true;
}
}  // namespace

Status binary_run(CpuKernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const auto op = binary_op_of(ctx.node().op);
  if (!op) return ctx.unsupported("not a binary arithmetic op");
  Bcast bc;
  if (!make_bcast({&a.dims(), &b.dims()}, &bc))
    return ctx.error("inputs of shapes " + dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()) +
                     " do not broadcast");
  if (*op == BOp::kPRelu && bc.out != a.dims())  // PRelu broadcasts the slope to X only
    return ctx.error("slope shape " + dims_to_string(b.dims()) + " cannot be broadcast to X shape " +
                     dims_to_string(a.dims()));
  const DType dt = a.dtype();
  if (b.dtype() != dt) return ctx.error(std::string("input dtypes differ: ") + dtype_name(dt) + ", " + dtype_name(b.dtype()));
  KILN_ASSIGN_OR_RETURN(bool done_blocked, binary_blocked(ctx, *op, bc.out));
  if (done_blocked) return ok_status();
  if (*op != BOp::kPRelu) {
    KILN_ASSIGN_OR_RETURN(bool done_channels_last, binary_channels_last(ctx, *op, bc.out));
    if (done_channels_last) return ok_status();
  }
  KILN_RETURN_IF_ERROR(materialize_all_inputs(ctx));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dt, bc.out));
  const int64_t n = y->numel();
  if (n == 0) return ok_status();
  const int64_t sa = bc.stride[0].back(), sb = bc.stride[1].back();
  const int threads = threads_for(ctx, *op == BOp::kPow ? 8 * n : n);
  if (dt == DType::kFloat32) {
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
    float* yp = y->data<float>();
    for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t len) {
      binary_row(*op, ap + o[0], sa, bp + o[1], sb, yp + out, len);
    });
  } else if (dt == DType::kInt32 && *op <= BOp::kMul) {
    for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t len) {
      int_row(*op, a.data<int32_t>() + o[0], sa, b.data<int32_t>() + o[1], sb, y->data<int32_t>() + out, len);
    });
  } else if (dt == DType::kInt64 && *op <= BOp::kMul) {
    for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t len) {
      int_row(*op, a.data<int64_t>() + o[0], sa, b.data<int64_t>() + o[1], sb, y->data<int64_t>() + out, len);
    });
  } else {
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt));
  }
  return ok_status();
}

}  // namespace kiln::cpu::kern
