// Pad (constant / reflect / edge / wrap, negative pads crop, `axes`) on any fixed-size dtype: per-axis source
// index maps as the reference builds them, then row by row - rows outside the input are filled, rows inside copy
// their middle span with memcpy and map only the padded ends.
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/data.h"

namespace kiln::cpu::kern {

NodeSupport pad_supports(const Graph& g, const Node& n) {
  const std::string mode = n.attrs.get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") return NodeSupport::no("mode '" + mode + "'");
  if (!n.has_input(1)) return NodeSupport::no("pads as an attribute");
  if (n.attrs.has("value") && input_dtype(g, n, 0) != DType::kFloat32) return NodeSupport::no("value attribute on a non-float32 input");
  const DType d = input_dtype(g, n, 0);
  if (d == DType::kUndefined || d == DType::kString || dtype_size(d) > 8) return NodeSupport::no(std::string("dtype ") + dtype_name(d));
  for (size_t i : {size_t{1}, size_t{3}})
    if (n.has_input(i) && input_dtype(g, n, i) != DType::kInt64 && input_dtype(g, n, i) != DType::kInt32)
      return NodeSupport::no("input " + std::to_string(i) + " is not int32/int64");
  if (n.has_input(2) && input_dtype(g, n, 2) != input_dtype(g, n, 0)) return NodeSupport::no("constant_value dtype");
  return NodeSupport::yes();
}

Status pad_run(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = static_cast<int64_t>(x.rank());
  const std::string mode = ctx.attrs().get_string("mode", "constant");
  if (!ctx.has_input(1)) return ctx.error("pads (input 1) is required");
  const std::vector<int64_t> pads = read_ints(ctx.input(1));
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    axes = read_ints(ctx.input(3));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na) return ctx.error("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * na));
  std::vector<int64_t> begin(r, 0), end(r, 0);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < na; ++i) {
    int64_t a = 0;
    if (!norm_axis(axes[i], r, &a) || seen[a]) return ctx.error("axes are out of range or repeated");
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[na + i];
    const int64_t limit = int64_t{1} << 40;
    if (begin[a] < -limit || begin[a] > limit || end[a] < -limit || end[a] > limit) return ctx.error("pads are out of range");
  }
  Dims od(r);
  for (int64_t d = 0; d < r; ++d) {
    od[d] = x.dim(d) + begin[d] + end[d];
    if (od[d] < 0) return ctx.error("pads remove more than the " + std::to_string(x.dim(d)) + " elements of axis " + std::to_string(d));
    if (mode != "constant" && x.dim(d) == 0 && od[d] > 0) return ctx.error("cannot pad empty axis " + std::to_string(d) + " in " + mode + " mode");
  }
  const size_t es = dtype_size(x.dtype());
  std::vector<char> fill(es, 0);
  if (mode == "constant" && ctx.has_input(2)) {
    const Tensor& f = ctx.input(2);
    if (f.numel() != 1 || f.dtype() != x.dtype()) return ctx.error("constant_value must be a scalar of the input's dtype");
    std::memcpy(fill.data(), f.raw(), es);
  } else if (mode == "constant" && ctx.attrs().has("value") && x.dtype() == DType::kFloat32) {
    const float v = ctx.attrs().get_float("value");
    std::memcpy(fill.data(), &v, 4);
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  if (y->numel() == 0) return ok_status();
  // Per-axis source index of each output index (-1: fill).
  std::vector<std::vector<int64_t>> maps(r);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t n = x.dim(d);
    maps[d].resize(static_cast<size_t>(od[d]));
    for (int64_t i = 0; i < od[d]; ++i) {
      int64_t s = i - begin[d];
      if (s < 0 || s >= n) {
        if (mode == "constant") s = -1;
        else if (mode == "edge") s = s < 0 ? 0 : n - 1;
        else if (mode == "wrap") s = ((s % n) + n) % n;
        else if (n == 1) s = 0;
        else {
          const int64_t period = 2 * (n - 1);
          s = ((s % period) + period) % period;
          s = s >= n ? period - s : s;
        }
      }
      maps[d][i] = s;
    }
  }
  const auto ist = strides(x.dims());
  const int64_t L = r ? od[r - 1] : 1, rows = y->numel() / L;
  const std::vector<int64_t>& inner = r ? maps[r - 1] : std::vector<int64_t>{0};
  // The span of output indices whose sources are the contiguous run inner[lo..hi).
  const int64_t lo = std::max<int64_t>(0, r ? begin[r - 1] : 0);
  const int64_t hi = std::min<int64_t>(L, r ? begin[r - 1] + x.dim(r - 1) : 1);
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y->raw());
  parallel_range(threads_for(ctx, y->numel()), rows, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t off = 0, rem = row;
      for (int64_t d = r - 2; d >= 0 && off >= 0; --d) {
        const int64_t i = rem % od[d];
        rem /= od[d];
        const int64_t s = maps[d][i];
        off = s < 0 ? -1 : off + s * ist[d];
      }
      char* out = dst + row * L * es;
      if (off < 0) {
        for (int64_t i = 0; i < L; ++i) std::memcpy(out + i * es, fill.data(), es);
        continue;
      }
      const char* in = src + off * es;
      for (int64_t i = 0; i < L; ++i) {
        if (i == lo && hi > lo) {
          std::memcpy(out + lo * es, in + inner[lo] * es, static_cast<size_t>(hi - lo) * es);
          i = hi - 1;
          continue;
        }
        const int64_t s = inner[i];
        std::memcpy(out + i * es, s < 0 ? fill.data() : in + s * es, es);
      }
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
