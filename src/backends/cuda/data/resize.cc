// Host side of CUDA Resize (canonical inputs X, roi, scales, sizes): output shape, per-axis tap tables with
// the reference backend's coordinate rules, kept on the device per distinct table, one launch. Antialiasing goes to
// the CPU.
#include "backends/cuda/data/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backends/cuda/data/data_kernels.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/resize_params.h"

namespace kiln::cuda {

namespace {

int taps_per_index(const ResizeParams& p) {
  return p.mode == ResizeMode::kNearest ? 1 : (p.mode == ResizeMode::kLinear ? 2 : 4);
}

// Appends the taps of output index o (taps_per_index entries; index -1 when outside the input).
void append_taps(const ResizeParams& p, double xo, int64_t in_len, std::vector<int64_t>* idx, std::vector<float>* w) {
  const int n = taps_per_index(p);
  if (p.coord == ResizeCoord::kTfCropAndResize && (xo < 0 || xo > static_cast<double>(in_len - 1))) {
    for (int j = 0; j < n; ++j) {
      idx->push_back(-1);
      w->push_back(0.f);
    }
    return;
  }
  if (p.mode == ResizeMode::kNearest) {
    idx->push_back(std::clamp<int64_t>(resize_nearest_index(p.nearest, xo), 0, in_len - 1));
    w->push_back(1.f);
    return;
  }
  const double f = std::ceil(xo) - 1;
  const double ratio = xo - f;
  const int64_t start = p.mode == ResizeMode::kLinear ? 0 : -1;
  std::vector<double> ws;
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = static_cast<double>(start + j) - ratio;
    double wt =
        p.mode == ResizeMode::kLinear ? std::max(0.0, 1.0 - std::fabs(d)) : resize_cubic_weight(d, p.cubic_coeff_a);
    const int64_t i = static_cast<int64_t>(f) + start + j;
    if (p.exclude_outside && (i < 0 || i >= in_len)) wt = 0.0;
    sum += wt;
    ws.push_back(wt);
    idx->push_back(std::clamp<int64_t>(i, 0, in_len - 1));
  }
  for (double wt : ws) w->push_back(static_cast<float>(p.exclude_outside && sum != 0.0 ? wt / sum : wt));
}

// The tap tables a node has used, each uploaded once into its own device buffer and kept for the context's life:
// a CUDA graph captured at one input shape replays the kernel with that shape's table pointer, so the bytes must stay
// where they are (an upload per run from a temporary host vector was captured as a copy from freed host memory, and
// replays read garbage indices: an illegal address in yolo-style detectors' upsampling, 2026-12-06).
struct TableSet {
  struct Entry {
    std::vector<int64_t> idx;
    std::vector<float> w;
    void* dev = nullptr;
  };
  std::vector<std::unique_ptr<Entry>> entries;
  ~TableSet() {
    for (auto& e : entries)
      if (e->dev) cudaFree(e->dev);
  }
};
// Distinct tables kept per node; beyond that (input shapes that keep changing) tables go through the workspace and
// the run is kept out of CUDA graphs.
constexpr size_t kMaxKeptTables = 64;

}  // namespace

bool supports_resize(const Node& node, const std::vector<const TypeInfo*>& types) {
  auto p = resize_params(node.attrs);
  if (!p.ok() || p->antialias) return false;
  const DType t = type_dtype(types, 0);
  if (t == DType::kUndefined || is_float_dtype(t)) return true;
  // Other dtypes only as pure index moves (nearest, no extrapolation).
  return p->mode == ResizeMode::kNearest && p->coord != ResizeCoord::kTfCropAndResize && movable_dtype(t);
}

Status run_resize(CudaKernelContext& ctx) {
  auto parsed = resize_params(ctx.attrs());
  if (!parsed.ok()) return ctx.error(parsed.status().message());
  const ResizeParams& p = *parsed;
  if (p.antialias) return ctx.unsupported("antialias on CUDA");
  const DType dt = ctx.input_dtype(0);
  const bool float_t = is_float_dtype(dt);
  if (!float_t && (p.mode != ResizeMode::kNearest || p.coord == ResizeCoord::kTfCropAndResize || !movable_dtype(dt)))
    return ctx.unsupported(std::string("Resize of dtype ") + dtype_name(dt) + " in this mode on CUDA");
  const Dims& x = ctx.input_dims(0);
  const int64_t r = static_cast<int64_t>(x.size());
  if (r > kMaxDims) return ctx.unsupported("rank above " + std::to_string(kMaxDims));
  auto axes_or = resize_axes(p, r);
  if (!axes_or.ok()) return ctx.error(axes_or.status().message());
  const std::vector<int64_t>& axes = *axes_or;
  const size_t na = axes.size();
  auto present = [&](size_t i) { return ctx.has_input(i) && numel_of(ctx.input_dims(i)) > 0; };
  std::vector<double> scales(r, 1.0), roi_lo(r, 0.0), roi_hi(r, 1.0);
  Dims out = x;
  if (present(1) && p.coord == ResizeCoord::kTfCropAndResize) {
    KILN_ASSIGN_OR_RETURN(Tensor roi, ctx.host_input(1));
    if (static_cast<size_t>(roi.numel()) != 2 * na)
      return ctx.error("roi must have " + std::to_string(2 * na) + " values; got " + std::to_string(roi.numel()));
    for (size_t i = 0; i < na; ++i) {
      roi_lo[axes[i]] = roi.as_double(i);
      roi_hi[axes[i]] = roi.as_double(na + i);
    }
  }
  const bool has_scales = present(2), has_sizes = present(3);
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given");
  if (has_scales) {
    KILN_ASSIGN_OR_RETURN(Tensor sv, ctx.host_input(2));
    if (static_cast<size_t>(sv.numel()) != na)
      return ctx.error("scales must have " + std::to_string(na) + " values; got " + std::to_string(sv.numel()));
    for (size_t i = 0; i < na; ++i) {
      const double s = sv.as_double(i);
      if (!(s > 0)) return ctx.error("scales must be positive; got " + std::to_string(s));
      scales[axes[i]] = s;
      const double o = std::floor(s * static_cast<double>(x[axes[i]]));
      if (o > 1e12) return ctx.error("scaled output is too large");
      out[axes[i]] = static_cast<int64_t>(o);
    }
  } else {
    KILN_ASSIGN_OR_RETURN(Tensor sz, ctx.host_input(3));
    if (!is_integer(sz.dtype())) return ctx.error("sizes must be int64");
    if (static_cast<size_t>(sz.numel()) != na)
      return ctx.error("sizes must have " + std::to_string(na) + " values; got " + std::to_string(sz.numel()));
    for (size_t i = 0; i < na; ++i) {
      const int64_t v = sz.as_int64(i);
      if (v < 0) return ctx.error("sizes must be non-negative");
      if (x[axes[i]] == 0) return ctx.error("cannot resize an empty axis");
      out[axes[i]] = v;
      scales[axes[i]] = static_cast<double>(v) / static_cast<double>(x[axes[i]]);
    }
    if (p.aspect != ResizeAspect::kStretch) {
      const bool not_larger = p.aspect == ResizeAspect::kNotLarger;
      double s = not_larger ? 1e300 : 0.0;
      for (int64_t a : axes) s = not_larger ? std::min(s, scales[a]) : std::max(s, scales[a]);
      for (int64_t a : axes) {
        scales[a] = s;
        out[a] = static_cast<int64_t>(s * static_cast<double>(x[a]) + 0.5);
      }
    }
  }
  // Tap tables of the axes that change (the reference skips unchanged axes the same way).
  ResizeDesc d;
  d.rank = static_cast<int>(r);
  d.extrapolation = p.extrapolation_value;
  std::vector<int64_t> tidx;
  std::vector<float> tw;
  int64_t stride = 1;
  for (int64_t a = r - 1; a >= 0; --a) {
    d.in_strides[a] = stride;
    stride *= x[a];
  }
  for (int64_t a = 0; a < r; ++a) {
    d.out_dims[a] = out[a];
    if (x[a] == out[a] && scales[a] == 1.0 && p.coord != ResizeCoord::kTfCropAndResize) continue;
    if (x[a] == 0 && out[a] > 0) return ctx.error("cannot resize an empty axis");
    d.taps[a] = taps_per_index(p);
    d.table_off[a] = static_cast<int64_t>(tidx.size());
    for (int64_t o = 0; o < out[a]; ++o) {
      const double xo =
          resize_source_coord(p.coord, static_cast<double>(o), x[a], out[a], scales[a], roi_lo[a], roi_hi[a]);
      append_taps(p, xo, x[a], &tidx, &tw);
    }
  }
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, out));
  if (y.numel() == 0) return ok_status();
  KILN_ASSIGN_OR_RETURN(DeviceTensor in, ctx.input(0));
  if (tidx.empty()) tidx.push_back(0), tw.push_back(0.f);  // no resized axis: the kernel reads no table
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<TableSet>();
  auto& tables = *static_cast<TableSet*>(slot.get());
  const size_t idx_bytes = tidx.size() * sizeof(int64_t), w_bytes = tw.size() * sizeof(float);
  int64_t* d_idx = nullptr;
  for (const auto& e : tables.entries)
    if (e->idx == tidx && e->w == tw) d_idx = static_cast<int64_t*>(e->dev);
  if (!d_idx && ctx.capturing())  // uploading now would record a copy: run this shape plainly instead
    return ctx.disallow_graph_capture("Resize tap tables not yet on the device");
  if (!d_idx && tables.entries.size() < kMaxKeptTables) {
    auto e = std::make_unique<TableSet::Entry>();
    e->idx = std::move(tidx);
    e->w = std::move(tw);
    KILN_RETURN_IF_ERROR(launch_status(ctx, cudaMalloc(&e->dev, idx_bytes + w_bytes), "Resize table allocation"));
    // The entry's host vectors live as long as the device copy: the async copies may run after this returns.
    char* dev = static_cast<char*>(e->dev);
    KILN_RETURN_IF_ERROR(launch_status(
        ctx, cudaMemcpyAsync(dev, e->idx.data(), idx_bytes, cudaMemcpyHostToDevice, ctx.stream()), "Resize table upload"));
    KILN_RETURN_IF_ERROR(launch_status(
        ctx, cudaMemcpyAsync(dev + idx_bytes, e->w.data(), w_bytes, cudaMemcpyHostToDevice, ctx.stream()),
        "Resize table upload"));
    d_idx = static_cast<int64_t*>(e->dev);
    tables.entries.push_back(std::move(e));
  }
  if (!d_idx) {
    KILN_RETURN_IF_ERROR(ctx.disallow_graph_capture("Resize with more distinct input shapes than it keeps tables for"));
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(idx_bytes + w_bytes));
    // Pageable host -> device copies return once the bytes are staged, so the vectors may go out of scope.
    KILN_RETURN_IF_ERROR(launch_status(
        ctx, cudaMemcpyAsync(ws, tidx.data(), idx_bytes, cudaMemcpyHostToDevice, ctx.stream()), "Resize table upload"));
    KILN_RETURN_IF_ERROR(launch_status(
        ctx, cudaMemcpyAsync(static_cast<char*>(ws) + idx_bytes, tw.data(), w_bytes, cudaMemcpyHostToDevice, ctx.stream()),
        "Resize table upload"));
    d_idx = static_cast<int64_t*>(ws);
  }
  const float* d_w = reinterpret_cast<const float*>(reinterpret_cast<const char*>(d_idx) + idx_bytes);
  if (p.mode == ResizeMode::kNearest && p.coord != ResizeCoord::kTfCropAndResize)  // indices clamped: bytes move
    return launch_status(ctx,
                         launch_resize_nearest_rows(dtype_size(dt), in.data, y.data, d, d_idx, in.numel(), ctx.stream()),
                         "Resize");
  return launch_status(
      ctx, launch_resize(dt, in.data, y.data, d, d_idx, d_w, y.numel(), ctx.stream()),
      "Resize");
}

}  // namespace kiln::cuda
