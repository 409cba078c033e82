// Reference kernel for ONNX RotaryEmbedding (opset 23): rotates (part of) each head by cached cos/sin angles.
#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers

Status rotary_embedding_kernel(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& x = ctx.input(0);
  const Tensor& cos_t = ctx.input(1);
  const Tensor& sin_t = ctx.input(2);
  if (!is_compute_float(x.dtype()))
    return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()) + " is not supported");
  if (cos_t.dtype() != x.dtype() || sin_t.dtype() != x.dtype())
    return ctx.error("cos_cache and sin_cache must have the input's dtype");
  if (x.rank() != 3 && x.rank() != 4) return ctx.error("input must be 3-D or 4-D, got " + dims_str(x.dims()));
  const auto& a = ctx.attrs();
  const bool interleaved = a.get_int("interleaved", 0) != 0;
  const int64_t num_heads_attr = a.get_int("num_heads", 0);
  int64_t rot_dim = a.get_int("rotary_embedding_dim", 0);

  // Logical layout [B, S, H, D]; 4-D input is [B, H, S, D], 3-D input is [B, S, H * D].
  const bool four_d = x.rank() == 4;
  const int64_t B = x.dim(0);
  int64_t S, H, D;
  if (four_d) {
    H = x.dim(1);
    S = x.dim(2);
    D = x.dim(3);
  } else {
    S = x.dim(1);
    if (num_heads_attr <= 0) return ctx.error("3-D input needs a positive num_heads attribute");
    if (x.dim(2) % num_heads_attr != 0)
      return ctx.error("hidden size " + std::to_string(x.dim(2)) + " is not divisible by num_heads " +
                       std::to_string(num_heads_attr));
    H = num_heads_attr;
    D = x.dim(2) / H;
  }
  if (rot_dim == 0) rot_dim = D;
  if (rot_dim < 0 || rot_dim > D || rot_dim % 2 != 0)
    return ctx.error("rotary_embedding_dim must be even and at most the head size " + std::to_string(D) + ", got " +
                     std::to_string(rot_dim));
  const int64_t half = rot_dim / 2;

  // The caches as [B, S, half] lookups, either directly (3-D) or through position_ids (2-D caches).
  std::vector<int64_t> pos;
  const bool has_pos = ctx.has_input(3);
  if (has_pos) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(3));
    const Tensor& p = ctx.input(3);
    if (!is_integer(p.dtype())) return ctx.error("position_ids must be an integer tensor");
    if (p.rank() != 2 || p.dim(0) != B || p.dim(1) != S)
      return ctx.error("position_ids must have shape [" + std::to_string(B) + "," + std::to_string(S) + "], got " +
                       dims_str(p.dims()));
    for (const Tensor* c : {&cos_t, &sin_t}) {
      if (c->rank() != 2 || c->dim(1) != half)
        return ctx.error("with position_ids the cos/sin caches must be [max_position," + std::to_string(half) +
                         "], got " + dims_str(c->dims()));
    }
    if (sin_t.dim(0) != cos_t.dim(0)) return ctx.error("cos_cache and sin_cache shapes differ");
    pos = tensor_to_int64s(p);
    for (int64_t v : pos) {
      if (v < 0 || v >= cos_t.dim(0))
        return ctx.error("position id " + std::to_string(v) + " is out of range [0, " + std::to_string(cos_t.dim(0)) +
                         ")");
    }
  } else {
    for (const Tensor* c : {&cos_t, &sin_t}) {
      if (c->rank() != 3 || c->dim(0) != B || c->dim(1) != S || c->dim(2) != half)
        return ctx.error("without position_ids the cos/sin caches must be [" + std::to_string(B) + "," +
                         std::to_string(S) + "," + std::to_string(half) + "], got " + dims_str(c->dims()));
    }
  }

  const std::vector<double> xv = read_doubles(x);
  const std::vector<double> cv = read_doubles(cos_t);
  const std::vector<double> sv = read_doubles(sin_t);
  std::vector<double> out = xv;
  auto index = [&](int64_t b, int64_t s, int64_t h, int64_t d) {
    return four_d ? ((b * H + h) * S + s) * D + d : ((b * S + s) * H + h) * D + d;
  };
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t s = 0; s < S; ++s) {
      const int64_t cache_row = has_pos ? pos[b * S + s] : b * S + s;
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t k = 0; k < half; ++k) {
          const double c = cv[cache_row * half + k];
          const double sn = sv[cache_row * half + k];
          // Pairs are (2k, 2k+1) when interleaved, otherwise (k, k + half).
          const int64_t i1 = interleaved ? 2 * k : k;
          const int64_t i2 = interleaved ? 2 * k + 1 : k + half;
          const double x1 = xv[index(b, s, h, i1)];
          const double x2 = xv[index(b, s, h, i2)];
          out[index(b, s, h, i1)] = c * x1 - sn * x2;
          out[index(b, s, h, i2)] = sn * x1 + c * x2;
        }
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, make_tensor_from_doubles(x.dtype(), x.dims(), out));
  ctx.set_output(0, std::move(y));
  return ok_status();
}

}  // namespace kiln
