// ReduceSum/Mean/Max/Min/L2/SumSquare on float32 over any axes: dims are merged into alternating kept/reduced
// groups; [.., keep, reduce] runs vectorized row reductions, [.., reduce, keep] vectorized column accumulation,
// anything else a generic odometer loop.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/norm.h"
#include "backends/cpu/kernels/norm_rows.h"

namespace kiln::cpu::kern {
namespace {

enum class Red { kSum, kMean, kMax, kMin, kL2, kSumSq };

Red red_of(OpKind op) {
  switch (op) {
    case OpKind::kReduceMean: return Red::kMean;
    case OpKind::kReduceMax: return Red::kMax;
    case OpKind::kReduceMin: return Red::kMin;
    case OpKind::kReduceL2: return Red::kL2;
    case OpKind::kReduceSumSquare: return Red::kSumSq;
    default: return Red::kSum;
  }
}

float identity(Red r) {
  if (r == Red::kMax) return -std::numeric_limits<float>::infinity();
  if (r == Red::kMin) return std::numeric_limits<float>::infinity();
  return 0.f;
}

float finish(Red r, float acc, int64_t count) {
  if (r == Red::kMean) return acc / static_cast<float>(count);
  if (r == Red::kL2) return std::sqrt(acc);
  return acc;
}

float reduce_row(Red r, const float* x, int64_t n) {
  switch (r) {
    case Red::kMax: return row_max(x, n);
    case Red::kMin: return row_min(x, n);
    case Red::kL2:
    case Red::kSumSq: return row_sum_sq(x, n);
    default: return row_sum(x, n);
  }
}

void accumulate_col(Red r, float* acc, const float* x, int64_t n) {
  switch (r) {
    case Red::kMax: col_max(acc, x, n); break;
    case Red::kMin: col_min(acc, x, n); break;
    case Red::kL2:
    case Red::kSumSq: col_add_sq(acc, x, n); break;
    default: col_add(acc, x, n); break;
  }
}

// Reduced rows shorter than this (a [.., keep, reduce] case) run 16 at a time as columns.
constexpr int64_t kShortReduceRow = 16;

}  // namespace

NodeSupport reduce_supports(const Graph& g, const Node& n) {
  if (n.opset > 0 && n.opset < 11) return NodeSupport::no("opset < 11");
  return require_dtypes(g, n, {0}, {DType::kFloat32});
}

Status reduce_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  const Red red = red_of(ctx.node().op);
  std::vector<int64_t> axes;
  // Axes: input 1 when present (newer opsets; the importer may also move an old `axes` attribute there),
  // else the attribute.
  if (ctx.has_input(1)) {
    const Tensor& a = ctx.input(1);
    if (a.dtype() != DType::kInt64 || a.rank() > 1) return ctx.error("axes must be a 1-D int64 tensor");
    axes = read_ints(a);
  } else {
    axes = ctx.attrs().get_ints("axes");
  }
  const bool noop = ctx.attrs().get_int("noop_with_empty_axes", 0) != 0;
  const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
  const int64_t rank = static_cast<int64_t>(x.rank());
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (!noop) reduced.assign(static_cast<size_t>(rank), true);
  } else {
    for (int64_t a : axes) {
      int64_t n = 0;
      if (!norm_axis(a, rank, &n)) return ctx.error("axis " + std::to_string(a) + " is out of range");
      if (reduced[n]) return ctx.error("axis " + std::to_string(a) + " is listed twice in axes");
      reduced[n] = true;
    }
  }
  Dims out_dims;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d] || keepdims) out_dims.push_back(reduced[d] ? 1 : x.dim(d));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out_dims));
  float* ys = y->data<float>();
  const float* xs = x.data<float>();
  // Merge dims into groups (size, reduced?), dropping size-1 dims.
  std::vector<std::pair<int64_t, bool>> grp;
  for (int64_t d = 0; d < rank; ++d) {
    if (x.dim(d) == 1) continue;
    if (!grp.empty() && grp.back().second == reduced[d]) grp.back().first *= x.dim(d);
    else grp.push_back({x.dim(d), reduced[d]});
  }
  const int64_t out_n = y->numel();
  int64_t count = 1;
  for (auto& [s, r] : grp)
    if (r) count *= s;
  if (x.numel() == 0 || count == 0) {  // empty reduction: the identity (Mean: NaN, 0/0)
    for (int64_t i = 0; i < out_n; ++i) ys[i] = finish(red, identity(red), count);
    return ok_status();
  }
  const int threads = threads_for(ctx, x.numel());
  if (grp.empty() || (grp.size() == 1 && !grp[0].second)) {  // nothing reduced
    for (int64_t i = 0; i < out_n; ++i) ys[i] = finish(red, reduce_row(red, xs + i, 1), 1);
    return ok_status();
  }
  if (grp.back().second && (grp.size() == 1 || (grp.size() == 2 && !grp[0].second))) {  // [keep,] reduce
    const int64_t len = grp.back().first;
    if (len < kShortReduceRow) {  // 16 rows at a time, transposed, accumulated as columns (the row forms are scalar)
      parallel_range(threads, (out_n + 15) / 16, [&](int64_t b, int64_t e) {
        float cols[16 * kShortReduceRow], acc[16];
        for (int64_t blk = b; blk < e; ++blk) {
          const int64_t r0 = blk * 16, rows = std::min<int64_t>(16, out_n - r0);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < len; ++j) cols[j * 16 + r] = xs[(r0 + r) * len + j];
          for (int64_t r = 0; r < rows; ++r) acc[r] = identity(red);
          for (int64_t j = 0; j < len; ++j) accumulate_col(red, acc, cols + j * 16, rows);
          for (int64_t r = 0; r < rows; ++r) ys[r0 + r] = finish(red, acc[r], count);
        }
      });
      return ok_status();
    }
    parallel_range(threads, out_n, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) ys[o] = finish(red, reduce_row(red, xs + o * len, len), count);
    });
    return ok_status();
  }
  if (!grp.back().second && grp.size() <= 3 && grp[grp.size() - 2].second &&
      (grp.size() == 2 || !grp[0].second)) {  // [keep,] reduce, keep
    const int64_t inner = grp.back().first, len = grp[grp.size() - 2].first;
    const int64_t outer = grp.size() == 3 ? grp[0].first : 1;
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        float* acc = ys + o * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] = identity(red);
        for (int64_t j = 0; j < len; ++j) accumulate_col(red, acc, xs + (o * len + j) * inner, inner);
        for (int64_t i = 0; i < inner; ++i) acc[i] = finish(red, acc[i], count);
      }
    });
    return ok_status();
  }
  // Generic: walk the input once, accumulating into the output element of its kept coordinates.
  for (int64_t i = 0; i < out_n; ++i) ys[i] = identity(red);
  std::vector<int64_t> gsz, ostride(grp.size(), 0);
  int64_t s = 1;
  for (size_t k = grp.size(); k-- > 0;) {
    gsz.insert(gsz.begin(), grp[k].first);
    if (!grp[k].second) {
      ostride[k] = s;
      s *= grp[k].first;
    }
  }
  std::vector<int64_t> idx(grp.size(), 0);
  for (int64_t e = 0; e < x.numel(); ++e) {
    int64_t o = 0;
    for (size_t k = 0; k < grp.size(); ++k) o += idx[k] * ostride[k];
    accumulate_col(red, ys + o, xs + e, 1);
    for (size_t k = grp.size(); k-- > 0;) {
      if (++idx[k] < gsz[k]) break;
      idx[k] = 0;
    }
  }
  for (int64_t i = 0; i < out_n; ++i) ys[i] = finish(red, ys[i], count);
  return ok_status();
}

}  // namespace kiln::cpu::kern

// ArgMax / ArgMin over one axis of a float32 tensor (segmentation and classification heads), int64 output: the
// first extreme index, or the last with select_last_index. Elements are ordered as the reference orders them: NaN
// above every number (ArgMax takes the first NaN, or the last with select_last_index; ArgMin takes a NaN only from an
// all-NaN axis). Inner columns are scanned together so the reads stay contiguous; a last axis is one scan per row.
namespace kiln::cpu::kern {

NodeSupport arg_reduce_supports(const Graph& g, const Node& n) { return require_dtypes(g, n, {0}, {DType::kFloat32}); }

namespace {

// Whether v replaces the current best of ArgMax (is_max) / ArgMin, ordered as the reference orders elements: NaN above
// every number and equal to NaN; ties (and NaN after NaN) move to the later index only with select_last_index.
inline bool arg_better(float v, float cur, bool is_max, bool last) {
  const bool nv = v != v, nc = cur != cur;
  const int c = (nv || nc) ? (nv == nc ? 0 : (nv ? 1 : -1)) : (v > cur) - (v < cur);
  return (is_max ? c > 0 : c < 0) || (c == 0 && last);
}

// Last-axis rows shorter than this run 16 at a time as transposed columns (a scalar scan is one long dependency chain:
// ~12 cycles per element).
constexpr int64_t kShortArgRow = 32;

}  // namespace

Status arg_reduce_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.unsupported(std::string("dtype ") + dtype_name(x.dtype()));
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.attrs().get_int("axis", 0);
  if (axis < -std::max<int64_t>(r, 1) || axis >= std::max<int64_t>(r, 1))
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
  if (r == 0) return ctx.error("input must have rank >= 1");
  if (axis < 0) axis += r;
  const bool keep = ctx.attrs().get_int("keepdims", 1) != 0;
  const bool last = ctx.attrs().get_int("select_last_index", 0) != 0;
  const bool is_max = ctx.node().op == OpKind::kArgMax;
  const int64_t len = x.dim(axis);
  if (len == 0) return ctx.error("the reduced axis is empty");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(i);
  for (int64_t i = axis + 1; i < r; ++i) inner *= x.dim(i);
  Dims od = x.dims();
  if (keep) od[axis] = 1;
  else od.erase(od.begin() + axis);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, od));
  const float* xs = x.data<float>();
  int64_t* ys = y->data<int64_t>();
  if (len > std::numeric_limits<int32_t>::max()) return ctx.unsupported("an axis of more than 2^31 elements");
  const int threads = threads_for(ctx, x.numel());
  if (inner == 1 && len >= kShortArgRow) {  // long last-axis rows: one scan each
    parallel_range(threads, outer, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const float* row = xs + o * len;
        float cur = row[0];
        int64_t at = 0;
        for (int64_t k = 1; k < len; ++k) {
          const float v = row[k];
          const bool better = arg_better(v, cur, is_max, last);  // selects: random data mispredicts a branch
          cur = better ? v : cur;
          at = better ? k : at;
        }
        ys[o] = at;
      }
    });
  } else if (inner == 1) {  // short rows: 16 at a time, transposed into columns
    parallel_range(threads, (outer + 15) / 16, [&](int64_t b, int64_t e) {
      float cols[16 * kShortArgRow];
      for (int64_t blk = b; blk < e; ++blk) {
        const int64_t r0 = blk * 16, rows = std::min<int64_t>(16, outer - r0);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < len; ++j) cols[j * 16 + r] = xs[(r0 + r) * len + j];
        arg_extreme_columns(cols, len, 16, rows, is_max, last, ys + r0);
      }
    });
  } else {  // the axis is not innermost: vectors across the contiguous inner positions
    const int64_t tasks = (inner + 255) / 256;
    parallel_range(threads, outer * tasks, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / tasks, c0 = (t % tasks) * 256;
        arg_extreme_columns(xs + o * len * inner + c0, len, inner, std::min<int64_t>(256, inner - c0), is_max, last,
                            ys + o * inner + c0);
      }
    });
  }
  return ok_status();
}

}  // namespace kiln::cpu::kern
