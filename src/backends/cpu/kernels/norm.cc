// Softmax / LogSoftmax (opset < 13: 2-D coercion; >= 13: one axis), LayerNormalization, RMSNormalization and
// FusedAddLayerNorm on float32, one vectorized row per (outer) index, rows split across threads when large.
#include <cmath>
#include <vector>

#include "backends/cpu/blocked.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/norm.h"
#include "backends/cpu/kernels/norm_rows.h"
#include "ir/norm_params.h"
#include "ir/op_params.h"

namespace kiln::cpu::kern {
namespace {

// Softmax over `len` elements of x spaced `inner` apart, for `inner` columns at once (inner == 1: one row).
void softmax_row(const float* x, float* y, int64_t len, bool log) {
  const float m = row_max(x, len);
  const float s = row_exp_sum(x, y, len, m);
  if (log) {
    row_add_scalar(x, y, len, -m - std::log(s));
  } else {
    row_scale(y, len, 1.0f / s);
  }
}

// Rows shorter than this run 16 at a time as columns of a transposed block (softmax_columns): the row form's tail
// is scalar, so a 10-class softmax spent ~40 ns per row.
constexpr int64_t kShortSoftmaxRow = 16;
// Columns one task of the strided case takes (a multiple of the 16 lanes).
constexpr int64_t kSoftmaxColumnTask = 256;

Status softmax_common(CpuKernelContext& ctx, bool log) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  KILN_ASSIGN_OR_RETURN(const SoftmaxShape sm, softmax_shape(ctx.node(), x.dims()));
  const int64_t outer = sm.outer, len = sm.len, inner = sm.inner;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  if (x.numel() == 0) return ok_status();
  const float* xs = x.data<float>();
  float* ys = y->data<float>();
  const int threads = threads_for(ctx, 4 * x.numel());
  if (inner == 1 && len < kShortSoftmaxRow) {
    // 16 rows at a time: transpose [16][len] into [len][16], softmax its columns, transpose back.
    const int64_t blocks = (outer + 15) / 16;
    parallel_range(threads, blocks, [&](int64_t b, int64_t e) {
      float in[16 * kShortSoftmaxRow], out[16 * kShortSoftmaxRow];
      for (int64_t blk = b; blk < e; ++blk) {
        const int64_t r0 = blk * 16, rows = std::min<int64_t>(16, outer - r0);
        const float* xb = xs + r0 * len;
        float* yb = ys + r0 * len;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < len; ++j) in[j * 16 + r] = xb[r * len + j];
        softmax_columns(in, out, len, 16, rows, log);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < len; ++j) yb[r * len + j] = out[j * 16 + r];
      }
    });
  } else if (inner == 1) {
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) softmax_row(xs + o * len, ys + o * len, len, log);
    });
  } else {
    // The axis is not innermost: vectors across the contiguous inner positions (no transposes).
    const int64_t tasks = (inner + kSoftmaxColumnTask - 1) / kSoftmaxColumnTask;
    parallel_range(threads, outer * tasks, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / tasks, c0 = (t % tasks) * kSoftmaxColumnTask;
        const int64_t off = o * len * inner + c0;
        softmax_columns(xs + off, ys + off, len, inner, std::min(kSoftmaxColumnTask, inner - c0), log);
      }
    });
  }
  return ok_status();
}

// Scale/B of LayerNormalization as inner-length vectors: the tensor itself when it already has `inner`
// elements, else broadcast into `buf`.
Result<const float*> inner_vector(const CpuKernelContext& ctx, size_t i, const Dims& inner_dims, int64_t inner,
                                  std::vector<float>* buf) {
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kFloat32) return ctx.error("input " + std::to_string(i) + " must be float32");
  if (t.numel() == inner && t.rank() <= inner_dims.size()) {
    // Same element count and broadcastable: only leading 1s can differ, so the layout is the same.
    Bcast b;
    if (make_bcast({&t.dims(), &inner_dims}, &b) && b.out == inner_dims) return t.data<float>();
  }
  Bcast b;
  if (t.rank() > inner_dims.size() || !make_bcast({&t.dims(), &inner_dims}, &b) || b.out != inner_dims)
    return ctx.error("input " + std::to_string(i) + " of shape " + dims_to_string(t.dims()) +
                     " does not broadcast to the normalized shape " + dims_to_string(inner_dims));
  buf->resize(static_cast<size_t>(inner));
  const float* src = t.data<float>();
  const int64_t rows = b.rows(), in = b.inner(), st = b.stride[0].back();
  std::vector<int64_t> offs(2);
  for (int64_t r = 0; r < rows; ++r) {
    b.row_offsets(r, offs.data());
    for (int64_t k = 0; k < in; ++k) (*buf)[r * in + k] = src[offs[0] + k * st];
  }
  return buf->data();
}

Status layer_norm_common(CpuKernelContext& ctx, bool rms) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  auto params = layer_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  auto axis_or = layer_norm_axis(*params, static_cast<int64_t>(x.rank()));
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  const Dims inner_dims(x.dims().begin() + axis, x.dims().end());
  const int64_t inner = dims_numel(inner_dims), outer = inner ? x.numel() / inner : 0;
  std::vector<float> sbuf, bbuf;
  if (!ctx.has_input(1)) return ctx.error("input 1 (Scale) is required");
  KILN_ASSIGN_OR_RETURN(const float* scale, inner_vector(ctx, 1, inner_dims, inner, &sbuf));
  const float* bias = nullptr;
  if (!rms && ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(bias, inner_vector(ctx, 2, inner_dims, inner, &bbuf));
  }
  const float eps = params->epsilon;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  Dims sd = x.dims();
  for (size_t i = static_cast<size_t>(axis); i < sd.size(); ++i) sd[i] = 1;
  float* mean_out = nullptr;
  float* inv_out = nullptr;
  if (!rms && ctx.num_outputs() > 1 && ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor * m, ctx.allocate_output(1, DType::kFloat32, sd));
    mean_out = m->data<float>();
  }
  if (!rms && ctx.num_outputs() > 2 && ctx.wants_output(2)) {
    KILN_ASSIGN_OR_RETURN(Tensor * v, ctx.allocate_output(2, DType::kFloat32, sd));
    inv_out = v->data<float>();
  }
  const float* xs = x.data<float>();
  float* ys = y->data<float>();
  parallel_range(threads_for(ctx, 3 * x.numel()), outer, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const float* row = xs + o * inner;
      const float mu = rms ? 0.f : row_sum(row, inner) / static_cast<float>(inner);
      const float var = (rms ? row_sum_sq(row, inner) : row_sum_sq_dev(row, inner, mu)) / static_cast<float>(inner);
      const float inv = 1.0f / std::sqrt(var + eps);
      row_normalize(row, ys + o * inner, inner, mu, inv, scale, bias);
      if (mean_out) mean_out[o] = mu;
      if (inv_out) inv_out[o] = inv;
    }
  });
  return ok_status();
}

// GroupNormalization (groups of C/G channels) and InstanceNormalization (G = C): statistics over each
// (batch, group), then each channel's affine transform.
Status group_norm_common(CpuKernelContext& ctx, bool instance) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  if (x.rank() < (instance ? 3u : 2u)) return ctx.error("input must have rank >= " + std::string(instance ? "3" : "2") + " (N, C, ...); got " + dims_to_string(x.dims()));
  for (size_t i = 1; i < 3; ++i)
    if (!ctx.has_input(i) || ctx.input(i).dtype() != DType::kFloat32)
      return ctx.error("input " + std::to_string(i) + " must be a float32 tensor");
  const int64_t n = x.dim(0), c = x.dim(1), sp = c ? (n ? x.numel() / (n * c) : 0) : 0;
  GroupNormParams gp;
  if (instance) {
    auto ip = instance_norm_params(ctx.attrs());
    if (!ip.ok()) return ctx.error(ip.status().message());
    gp.num_groups = c;
    gp.epsilon = ip->epsilon;
    gp.per_channel_always = true;
  } else {
    auto parsed = group_norm_params(ctx.node());
    if (!parsed.ok()) return ctx.error(parsed.status().message());
    gp = *parsed;
    if (Status st = check_group_norm_channels(gp, c); !st.ok()) return ctx.error(st.message());
  }
  const int64_t g = gp.num_groups;
  const int64_t pn = ctx.input(1).numel();
  const bool per_channel = gp.per_channel(c, pn);
  const int64_t want = per_channel ? c : g;
  if (pn != want || ctx.input(2).numel() != want)
    return ctx.error("scale and bias must have " + std::to_string(want) + " elements");
  const float* scale = ctx.input(1).data<float>();
  const float* bias = ctx.input(2).data<float>();
  const float eps = gp.epsilon;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const int64_t cpg = c / g, gsize = cpg * sp;
  const float* xs = x.data<float>();
  float* ys = y->data<float>();
  parallel_range(threads_for(ctx, 3 * x.numel()), n * g, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t gi = it % g, base = it * gsize;
      const float mu = gsize ? row_sum(xs + base, gsize) / static_cast<float>(gsize) : 0.f;
      const float var = gsize ? row_sum_sq_dev(xs + base, gsize, mu) / static_cast<float>(gsize) : 0.f;
      const float inv = 1.0f / std::sqrt(var + eps);
      for (int64_t k = 0; k < cpg; ++k) {
        const int64_t p = per_channel ? gi * cpg + k : gi;
        row_shift_scale(xs + base + k * sp, ys + base + k * sp, sp, mu, inv * scale[p], bias[p]);
      }
    }
  });
  return ok_status();
}

}  // namespace

NodeSupport group_norm_supports(const Graph& g, const Node& n) {
  if (n.op == OpKind::kInstanceNormalization) {
    if (auto p = instance_norm_params(n.attrs); !p.ok()) return NodeSupport::no(p.status().message());
  } else {
    auto p = group_norm_params(n);
    if (!p.ok()) return NodeSupport::no(p.status().message());
    if (p->stash_type != DType::kFloat32) return NodeSupport::no("stash_type other than float32");
  }
  return require_dtypes(g, n, {0, 1, 2}, {DType::kFloat32});
}
Status group_norm_run(CpuKernelContext& ctx) { return group_norm_common(ctx, false); }
Status instance_norm_run(CpuKernelContext& ctx) { return group_norm_common(ctx, true); }

// BatchNormalization in inference form (running statistics): per channel y = x * s + t with
// s = scale / sqrt(var + eps), t = B - mean * s. Convolutions absorb the BatchNorms that follow them (fuse_conv_bn);
// this runs the others (pre-activation blocks: DenseNet, MaxViT's MBConv pre-norm), which went to the reference.
NodeSupport batch_norm_supports(const Graph& g, const Node& n) {
  auto p = batch_norm_params(n.attrs);
  if (!p.ok()) return NodeSupport::no(p.status().message());
  if (p->training_mode) return NodeSupport::no("training_mode");
  if (n.outputs.size() > 1) return NodeSupport::no("running statistics outputs");
  return require_dtypes(g, n, {0, 1, 2, 3, 4}, {DType::kFloat32});
}

Status batch_norm_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  if (x.rank() < 2) return ctx.error("input must have rank >= 2 (N, C, ...); got " + dims_to_string(x.dims()));
  const int64_t n = x.dim(0), c = x.dim(1), sp = n && c ? x.numel() / (n * c) : 0;
  static const char* kNames[] = {"", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i)
    if (!ctx.has_input(i) || ctx.input(i).dtype() != DType::kFloat32 || ctx.input(i).numel() != c)
      return ctx.error(std::string(kNames[i]) + " must be a float32 tensor of " + std::to_string(c) +
                       " elements (X's channels)");
  auto params = batch_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const float eps = params->epsilon;
  std::vector<float> s(c), t(c);
  const float* scale = ctx.input(1).data<float>();
  const float* bias = ctx.input(2).data<float>();
  const float* mean = ctx.input(3).data<float>();
  const float* var = ctx.input(4).data<float>();
  for (int64_t i = 0; i < c; ++i) {
    s[i] = scale[i] / std::sqrt(var[i] + eps);
    t[i] = bias[i] - mean[i] * s[i];
  }
  // A channel-blocked input (a Concat or convolution of a pre-activation block: BN -> ReLU -> Conv) stays blocked, so
  // the convolution after it reads it without a reorder (DenseNet-121 spent a sixth of its oneDNN time reordering).
  if (const BlockedView bx = blocked_input(ctx, 0)) {
    KILN_ASSIGN_OR_RETURN(BlockedView by, blocked_output(ctx, x.dims(), bx.block));
    if (by) {
      const int64_t blocks = bx.channel_blocks(), spatial = bx.spatial(), block = bx.block;
      s.resize(static_cast<size_t>(blocks * block), 0.f);  // the padding lanes map 0 to 0
      t.resize(static_cast<size_t>(blocks * block), 0.f);
      parallel_range(threads_for(ctx, 2 * by.padded_numel()), n * blocks, [&](int64_t b, int64_t e) {
        for (int64_t it = b; it < e; ++it) {
          const float* sc = s.data() + (it % blocks) * block;
          const float* sh = t.data() + (it % blocks) * block;
          const float* xp = bx.data + it * spatial * block;
          float* yp = by.data + it * spatial * block;
          for (int64_t k = 0; k < spatial; ++k)
            for (int64_t l = 0; l < block; ++l) yp[k * block + l] = xp[k * block + l] * sc[l] + sh[l];
        }
      });
      zero_channel_pad(by, 1);
      return ok_status();
    }
  }
  KILN_RETURN_IF_ERROR(materialize_all_inputs(ctx));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const float* xs = x.data<float>();
  float* ys = y->data<float>();
  parallel_range(threads_for(ctx, 2 * x.numel()), n * c, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const float sc = s[it % c], sh = t[it % c];
      const float* xp = xs + it * sp;
      float* yp = ys + it * sp;
      for (int64_t k = 0; k < sp; ++k) yp[k] = xp[k] * sc + sh;
    }
  });
  return ok_status();
}

NodeSupport softmax_supports(const Graph& g, const Node& n) { return require_dtypes(g, n, {0}, {DType::kFloat32}); }
Status softmax_run(CpuKernelContext& ctx) { return softmax_common(ctx, false); }
Status log_softmax_run(CpuKernelContext& ctx) { return softmax_common(ctx, true); }

NodeSupport layer_norm_supports(const Graph& g, const Node& n) {
  auto p = layer_norm_params(n.attrs);
  if (!p.ok()) return NodeSupport::no(p.status().message());
  if (p->stash_type != DType::kFloat32) return NodeSupport::no("stash_type other than float32");
  return require_dtypes(g, n, {0, 1, 2}, {DType::kFloat32});
}
Status layer_norm_run(CpuKernelContext& ctx) { return layer_norm_common(ctx, false); }
Status rms_norm_run(CpuKernelContext& ctx) { return layer_norm_common(ctx, true); }

NodeSupport add_layer_norm_supports(const Graph& g, const Node& n) {
  auto p = layer_norm_params(n.attrs);
  if (!p.ok()) return NodeSupport::no(p.status().message());
  if (p->axis != -1) return NodeSupport::no("axis other than -1");
  if (!n.has_input(1)) return NodeSupport::no("without R");
  if (n.outputs.size() > 1 || n.attrs.has("fp8_scale")) return NodeSupport::no("a float8 output");
  return require_dtypes(g, n, {0, 1, 2, 3}, {DType::kFloat32});
}

Status add_layer_norm_run(CpuKernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (!ctx.has_input(i) || ctx.input(i).dtype() != DType::kFloat32)
      return ctx.error("input " + std::to_string(i) + " must be a float32 tensor");
  const Tensor& x = ctx.input(0);
  const Tensor& r = ctx.input(1);
  if (x.rank() == 0 || r.rank() == 0 || !fused::is_repeating_suffix(r.dims(), x.dims()))
    return ctx.error("R of shape " + dims_to_string(r.dims()) + " must match the trailing dims of X " +
                     dims_to_string(x.dims()));
  const int64_t cols = x.dims().back(), rows = cols ? x.numel() / cols : 0;
  const bool has_bias = ctx.has_input(3);
  if (ctx.input(2).numel() != cols || (has_bias && ctx.input(3).numel() != cols))
    return ctx.error("Scale and B must have " + std::to_string(cols) + " elements (X's last dim)");
  if (has_bias && ctx.input(3).dtype() != DType::kFloat32) return ctx.error("B must be float32");
  auto params = layer_norm_params(ctx.attrs());
  if (!params.ok()) return ctx.error(params.status().message());
  const float eps = params->epsilon;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.dims()));
  const float* xs = x.data<float>();
  const float* rs = r.data<float>();
  const float* scale = ctx.input(2).data<float>();
  const float* bias = has_bias ? ctx.input(3).data<float>() : nullptr;
  const int64_t r_rows = cols ? r.numel() / cols : 1;
  float* ys = y->data<float>();
  parallel_range(threads_for(ctx, 4 * x.numel()), rows, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      float* row = ys + o * cols;  // the sum goes to y first, then is normalized in place
      row_add(xs + o * cols, rs + (o % r_rows) * cols, row, cols);
      const float mu = row_sum(row, cols) / static_cast<float>(cols);
      const float var = row_sum_sq_dev(row, cols, mu) / static_cast<float>(cols);
      row_normalize(row, row, cols, mu, 1.0f / std::sqrt(var + eps), scale, bias);
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
