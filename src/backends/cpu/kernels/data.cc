// Data-movement CPU kernels on any fixed-size dtype: Transpose, Slice, Expand, Tile (through the strided copy
// engine), Concat, Split and Gather (block copies).
#include <algorithm>
#include <cstring>

#include "backends/cpu/blocked.h"
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"
#include "backends/cpu/kernels/strided_copy.h"
#include "backends/cpu/onednn/common.h"
#include "ir/op_params.h"
#include "ir/shape_rules.h"

namespace kiln::cpu::kern {
namespace {

// Reads int input i (int32/int64) into *out; error naming the input otherwise.
Status int_input(const CpuKernelContext& ctx, size_t i, const char* what, std::vector<int64_t>* out) {
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return ctx.error(std::string(what) + " (input " + std::to_string(i) + ") must be int32 or int64");
  *out = read_ints(t);
  return ok_status();
}

}  // namespace

NodeSupport data_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  if (!fixed_size_dtype(d)) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  for (size_t i = 1; i < n.inputs.size(); ++i) {  // starts/ends/axes/steps, shape, repeats, split, indices
    if (!n.has_input(i)) continue;
    const DType t = input_dtype(g, n, i);
    if (t != DType::kInt64 && t != DType::kInt32) return NodeSupport::no("input " + std::to_string(i) + " is not int32/int64");
  }
  return NodeSupport::yes();
}

NodeSupport concat_supports(const Graph& g, const Node& n) {
  const DType d = input_dtype(g, n, 0);
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (!fixed_size_dtype(input_dtype(g, n, i)) || input_dtype(g, n, i) != d)
      return NodeSupport::no("input " + std::to_string(i) + " dtype");
  return NodeSupport::yes();
}

Status transpose_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  auto parsed = transpose_perm(ctx.attrs(), r);
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const std::vector<int64_t>& perm = *parsed;
  const auto st = strides(x.dims());
  Dims od(r);
  std::vector<int64_t> os(r);
  for (int64_t i = 0; i < r; ++i) {
    od[i] = x.dim(perm[i]);
    os[i] = st[perm[i]];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  strided_copy(x.raw(), 0, os, y->raw(), od, dtype_size(x.dtype()), ctx.num_threads());
  return ok_status();
}

namespace {

// y = x viewed as `view` (row-major) and permuted by `perm`, written as `out` dims: the pixel shuffles.
Status permuted_view(CpuKernelContext& ctx, const Dims& view, const std::vector<int64_t>& perm, const Dims& out) {
  const Tensor& x = ctx.input(0);
  const auto st = strides(view);
  Dims od(perm.size());
  std::vector<int64_t> os(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    od[i] = view[perm[i]];
    os[i] = st[perm[i]];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  strided_copy(x.raw(), 0, os, y->raw(), od, dtype_size(x.dtype()), ctx.num_threads());
  return ok_status();
}

}  // namespace

// DepthToSpace (PixelShuffle in super-resolution heads) and SpaceToDepth: one strided copy of a permuted view.
Status pixel_shuffle_run(CpuKernelContext& ctx) {
  auto ps = pixel_shuffle(ctx.node().op, ctx.attrs(), ctx.input(0).dims());
  if (!ps.ok()) return ctx.error(ps.status().message());
  return permuted_view(ctx, ps->view, ps->perm, ps->out);
}

Status slice_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  std::vector<int64_t> starts, ends, axes, steps;
  if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.error("starts and ends are required");
  KILN_RETURN_IF_ERROR(int_input(ctx, 1, "starts", &starts));
  KILN_RETURN_IF_ERROR(int_input(ctx, 2, "ends", &ends));
  if (ctx.has_input(3)) {
    KILN_RETURN_IF_ERROR(int_input(ctx, 3, "axes", &axes));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(4)) {
    KILN_RETURN_IF_ERROR(int_input(ctx, 4, "steps", &steps));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length");
  const auto st = strides(x.dims());
  Dims od = x.dims();
  std::vector<int64_t> os = st;
  int64_t base = 0;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = 0;
    if (!norm_axis(axes[i], r, &a)) return ctx.error("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(r));
    if (seen[a]) return ctx.error("axes contain a duplicate");
    seen[a] = true;
    const int64_t d = x.dim(a), s = steps[i];
    if (s == 0) return ctx.error("steps must be nonzero");
    const SliceRange range = slice_range(starts[i], ends[i], s, d);
    od[a] = range.count;
    os[a] = st[a] * s;
    if (range.count > 0) base += range.first * st[a];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  strided_copy(x.raw(), base, os, y->raw(), od, dtype_size(x.dtype()), ctx.num_threads());
  return ok_status();
}

Status expand_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape;
  if (!ctx.has_input(1)) return ctx.error("shape is required");
  KILN_RETURN_IF_ERROR(int_input(ctx, 1, "shape", &shape));
  Bcast b;
  if (!make_bcast({&x.dims(), &shape}, &b))
    return ctx.error("input of shape " + dims_to_string(x.dims()) + " does not broadcast to " + dims_to_string(shape));
  const size_t r = b.out.size(), off = r - x.rank();
  const auto st = strides(x.dims());
  std::vector<int64_t> os(r, 0);
  for (size_t i = 0; i < x.rank(); ++i) os[off + i] = x.dim(i) == 1 ? 0 : st[i];
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), b.out));
  strided_copy(x.raw(), 0, os, y->raw(), b.out, dtype_size(x.dtype()), ctx.num_threads());
  return ok_status();
}

Status tile_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> reps;
  if (!ctx.has_input(1)) return ctx.error("repeats is required");
  KILN_RETURN_IF_ERROR(int_input(ctx, 1, "repeats", &reps));
  if (reps.size() != x.rank()) return ctx.error("repeats must have one entry per input dim");
  const auto st = strides(x.dims());
  Dims od, pd;  // pd: [r0, d0, r1, d1, ...] is the output's layout
  std::vector<int64_t> ps;
  for (size_t i = 0; i < x.rank(); ++i) {
    if (reps[i] < 0) return ctx.error("repeats must be non-negative");
    od.push_back(x.dim(i) * reps[i]);
    pd.push_back(reps[i]);
    pd.push_back(x.dim(i));
    ps.push_back(0);
    ps.push_back(st[i]);
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  strided_copy(x.raw(), 0, ps, y->raw(), pd, dtype_size(x.dtype()), ctx.num_threads());
  return ok_status();
}

// Concat along the channels of channel-blocked inputs (every input but the last a whole number of blocks):
// per batch item, each input's blocks are one contiguous run. Returns an empty view when this does not apply.
Result<BlockedView> concat_blocked(CpuKernelContext& ctx, const Dims& od, int64_t axis) {
  const size_t k = ctx.num_inputs();
  if (axis != 1 || od.size() < 3 || od.size() > 5 || ctx.input(0).dtype() != DType::kFloat32) return BlockedView{};
  std::vector<BlockedView> in(k);
  for (size_t i = 0; i < k; ++i) {
    in[i] = blocked_input(ctx, i);
    if (!in[i] || in[i].block != in[0].block) return BlockedView{};
    if (i + 1 < k && in[i].dims[1] % in[i].block != 0) return BlockedView{};
  }
  KILN_ASSIGN_OR_RETURN(BlockedView out, blocked_output(ctx, od, in[0].block));
  if (!out) return out;
  const int64_t run = out.spatial() * out.block, cbo = out.channel_blocks();
  parallel_range(threads_for(ctx, out.padded_numel()), od[0] * static_cast<int64_t>(k), [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t n = it / static_cast<int64_t>(k);
      const size_t i = static_cast<size_t>(it % static_cast<int64_t>(k));
      int64_t at = 0;
      for (size_t j = 0; j < i; ++j) at += in[j].channel_blocks();
      const int64_t cbi = in[i].channel_blocks();
      std::memcpy(out.data + (n * cbo + at) * run, in[i].data + n * cbi * run, static_cast<size_t>(cbi * run) * sizeof(float));
    }
  });
  zero_channel_pad(out, 1);
  return out;
}

// Concat along the channels of inputs that oneDNN kernels handed off channels-last (int8 convolutions always; bf16
// engines' convolutions in float32): each output pixel holds the inputs' channel runs one after another, written in
// the output tensor's own bytes and handed on in that layout, so the convolutions after it (SqueezeNet's fire
// modules, detector necks) read it without a reorder. Materializing both inputs to NCHW, concatenating and
// reordering back cost int8 SqueezeNet 30% of its run. false (nothing done) when some input is not such a
// hand-off or some reader needs the plain output.
namespace {
Result<bool> concat_channels_last(CpuKernelContext& ctx, const Dims& od, int64_t axis) {
  const size_t k = ctx.num_inputs();
  const DType t = ctx.input(0).dtype();
  if (axis != 1 || od.size() < 3 || od.size() > 5 || !ctx.private_output(0)) return false;
  dnnl::memory::data_type dt;
  switch (t) {
    case DType::kFloat32: dt = dnnl::memory::data_type::f32; break;
    case DType::kBFloat16: dt = dnnl::memory::data_type::bf16; break;
    case DType::kUInt8: dt = dnnl::memory::data_type::u8; break;
    case DType::kInt8: dt = dnnl::memory::data_type::s8; break;
    default: return false;
  }
  const size_t es = dtype_size(t);
  std::vector<const char*> src(k);
  std::vector<size_t> run(k);  // bytes of input i per pixel
  for (size_t i = 0; i < k; ++i) {
    src[i] = static_cast<const char*>(onednn::channels_last_input(ctx, i, dt));
    if (!src[i]) return false;
    run[i] = static_cast<size_t>(ctx.input(i).dim(1)) * es;
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, t, od));
  char* yp = static_cast<char*>(y->raw());
  int64_t pixels = od[0];
  for (size_t d = 2; d < od.size(); ++d) pixels *= od[d];
  const int64_t c = od[1];
  // float32 inputs whose every reader rounds the result to bf16: the copy rounds them (half the bytes written, and
  // the readers skip their own conversion).
  const bool to_bf16 = t == DType::kFloat32 && onednn::channels_last_bf16_output(ctx);
  parallel_range(threads_for(ctx, pixels * c), pixels, [&](int64_t lo, int64_t hi) {
    for (int64_t px = lo; px < hi; ++px) {
      if (to_bf16) {
        uint16_t* dst = reinterpret_cast<uint16_t*>(yp) + px * c;
        for (size_t i = 0; i < k; ++i) {
          const int64_t n = static_cast<int64_t>(run[i] / es);
          floats_to_bf16(reinterpret_cast<const float*>(src[i]) + px * n, dst, n);
          dst += n;
        }
        continue;
      }
      char* dst = yp + static_cast<size_t>(px * c) * es;
      for (size_t i = 0; i < k; ++i) {
        std::memcpy(dst, src[i] + static_cast<size_t>(px) * run[i], run[i]);
        dst += run[i];
      }
    }
  });
  onednn::publish_channels_last_output(ctx, od, to_bf16 ? dnnl::memory::data_type::bf16 : dt, yp);
  return true;
}
}  // namespace

Status concat_run(CpuKernelContext& ctx) {
  const size_t k = ctx.num_inputs();
  if (k == 0 || !ctx.has_input(0)) return ctx.error("needs at least one input");
  const Tensor& x0 = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x0.rank());
  auto axis_or = concat_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  Dims od = x0.dims();
  od[axis] = 0;
  for (size_t i = 0; i < k; ++i) {
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is missing");
    const Tensor& t = ctx.input(i);
    if (t.dtype() != x0.dtype() || t.rank() != x0.rank())
      return ctx.error("input " + std::to_string(i) + " must match input 0's dtype and rank");
    for (int64_t d = 0; d < r; ++d)
      if (d != axis && t.dim(d) != x0.dim(d))
        return ctx.error("input " + std::to_string(i) + " of shape " + dims_to_string(t.dims()) +
                         " does not match input 0 " + dims_to_string(x0.dims()) + " outside axis " + std::to_string(axis));
    od[axis] += t.dim(axis);
  }
  KILN_ASSIGN_OR_RETURN(BlockedView blocked, concat_blocked(ctx, od, axis));
  if (blocked) return ok_status();
  KILN_ASSIGN_OR_RETURN(const bool channels_last, concat_channels_last(ctx, od, axis));
  if (channels_last) return ok_status();
  KILN_RETURN_IF_ERROR(materialize_all_inputs(ctx));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x0.dtype(), od));
  const size_t es = dtype_size(x0.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= od[d];
  for (int64_t d = axis + 1; d < r; ++d) inner *= od[d];
  const int64_t out_row = od[axis] * inner;
  char* dst = static_cast<char*>(y->raw());
  parallel_range(threads_for(ctx, y->numel()), outer, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t at = 0;
      for (size_t i = 0; i < k; ++i) {
        const Tensor& t = ctx.input(i);
        const int64_t len = t.dim(axis) * inner;
        std::memcpy(dst + (o * out_row + at) * es, static_cast<const char*>(t.raw()) + o * len * es,
                    static_cast<size_t>(len) * es);
        at += len;
      }
    }
  });
  return ok_status();
}

Status split_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = 0;
  if (r == 0 || !norm_axis(ctx.attrs().get_int("axis", 0), r, &axis))
    return ctx.error("axis " + std::to_string(ctx.attrs().get_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  const int64_t n_out = static_cast<int64_t>(ctx.num_outputs()), dim = x.dim(axis);
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    KILN_RETURN_IF_ERROR(int_input(ctx, 1, "split", &split));
  } else if (ctx.attrs().has("split")) {  // opset < 13
    split = ctx.attrs().get_ints("split");
  }
  if (!split.empty()) {
    if (static_cast<int64_t>(split.size()) != n_out) return ctx.error("split has the wrong number of entries");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.error("split has a negative entry");
      sum += s;
    }
    if (sum != dim) return ctx.error("split sums to " + std::to_string(sum) + " but axis has " + std::to_string(dim));
  } else if (ctx.attrs().has("num_outputs")) {
    const int64_t parts = ctx.attrs().get_int("num_outputs", n_out);
    if (parts != n_out || parts <= 0) return ctx.error("num_outputs does not match the node's outputs");
    const int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i) split.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  } else {
    if (n_out <= 0 || dim % n_out != 0) return ctx.error("axis of size " + std::to_string(dim) + " cannot be split evenly");
    split.assign(n_out, dim / n_out);
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  int64_t at = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    Dims od = x.dims();
    od[axis] = split[i];
    const int64_t len = split[i] * inner;
    if (ctx.wants_output(i)) {
      KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(i, x.dtype(), od));
      char* dst = static_cast<char*>(y->raw());
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * len * es, src + (o * dim * inner + at) * es, static_cast<size_t>(len) * es);
    }
    at += len;
  }
  return ok_status();
}

Status gather_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& idx = ctx.input(1);
  const int64_t r = static_cast<int64_t>(x.rank());
  auto axis_or = gather_axis(ctx.attrs(), r);
  if (!axis_or.ok()) return ctx.error(axis_or.status().message());
  const int64_t axis = *axis_or;
  if (idx.dtype() != DType::kInt64 && idx.dtype() != DType::kInt32) return ctx.error("indices must be int32 or int64");
  const int64_t dim = x.dim(axis), n_idx = idx.numel();
  std::vector<int64_t> ids = read_ints(idx);
  for (int64_t& v : ids) {
    if (v < -dim || v >= dim)
      return ctx.error("index " + std::to_string(v) + " is out of range for a dimension of size " + std::to_string(dim));
    if (v < 0) v += dim;
  }
  Dims od(x.dims().begin(), x.dims().begin() + axis);
  od.insert(od.end(), idx.dims().begin(), idx.dims().end());
  od.insert(od.end(), x.dims().begin() + axis + 1, x.dims().end());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const size_t es = dtype_size(x.dtype()), row = static_cast<size_t>(inner) * es;
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y->raw());
  parallel_range(threads_for(ctx, y->numel()), outer * n_idx, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t o = it / n_idx, j = it % n_idx;
      std::memcpy(dst + it * row, src + (o * dim + ids[j]) * row, row);
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
