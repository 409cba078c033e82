// QLinearGlobalAveragePool (docs/int8.md; the squeeze of squeeze-excitation blocks in Q/DQ models, fold_qdq) on
// 8-bit tensors, in the reference's arithmetic (integer sums, the scaling in float64) so results are bit-identical.
// Reads the int8 convolutions' NHWC hand-off as it is (per-channel sums along contiguous rows), so the tensor it
// averages stays NHWC for its other readers; else the plain NCHW tensor. The [N, C, 1, ...] output is plain.
#include <cmath>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }
dnnl::memory::data_type dt_of(DType t) {
  return t == DType::kInt8 ? dnnl::memory::data_type::s8 : dnnl::memory::data_type::u8;
}

double scalar(const CpuKernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return 0.0;
  const Tensor& t = ctx.input(i);
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[0];
    case DType::kInt8: return t.data<int8_t>()[0];
    default: return t.data<uint8_t>()[0];
  }
}

// acc[c] += sum over `rows` rows of `c_count` bytes (x ^ flip: int8 read as uint8 + 128).
void sum_rows(const uint8_t* __restrict x, int64_t rows, int64_t c_count, uint8_t flip, int32_t* __restrict acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = x + r * c_count;
    for (int64_t c = 0; c < c_count; ++c) acc[c] += row[c] ^ flip;
  }
}

Status run_qgap(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!is_q8(x.dtype()) || x.rank() < 3 || x.rank() > 5) return ctx.unsupported("uint8/int8 X of rank 3-5 only");
  if (ctx.attrs().get_int("channels_last", 0) != 0) return ctx.unsupported("channels_last=1");
  for (size_t i : {size_t{1}, size_t{3}})
    if (ctx.input(i).dtype() != DType::kFloat32 || ctx.input(i).numel() != 1)
      return ctx.unsupported("per-tensor float32 scales only");
  for (size_t i : {size_t{2}, size_t{4}})
    if (ctx.has_input(i) && (ctx.input(i).numel() != 1 || ctx.input(i).dtype() != x.dtype()))
      return ctx.unsupported("per-tensor zero points of X's type only");
  const int64_t n = x.dim(0), c = x.dim(1), count = x.numel() / std::max<int64_t>(1, n * c);
  if (count >= (int64_t{1} << 23)) return ctx.unsupported("more than 2^23 values per channel (int32 sums)");
  Dims od{n, c};
  for (size_t d = 2; d < x.rank(); ++d) od.push_back(1);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), od));
  OnednnHandoff* h = onednn_handoff(ctx, 0);
  const bool nhwc = h && h->mem.get_desc() == channels_last_md(x.dims(), dt_of(x.dtype()));
  if (!nhwc) KILN_RETURN_IF_ERROR(materialize_inputs(ctx));
  const auto* src = static_cast<const uint8_t*>(nhwc ? h->mem.get_data_handle() : x.raw());
  const uint8_t flip = x.dtype() == DType::kInt8 ? 0x80 : 0;
  std::vector<int32_t> sums(static_cast<size_t>(n * c), 0);
  kern::parallel_range(kern::threads_for(ctx, x.numel()), n, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      const uint8_t* xb = src + b * c * count;
      int32_t* acc = sums.data() + b * c;
      if (nhwc) {
        sum_rows(xb, count, c, flip, acc);
      } else {
        for (int64_t ch = 0; ch < c; ++ch) sum_rows(xb + ch * count, count, 1, flip, acc + ch);
      }
    }
  });
  const double sx = scalar(ctx, 1), zx = scalar(ctx, 2), sy = scalar(ctx, 3), zy = scalar(ctx, 4);
  const double lo = x.dtype() == DType::kInt8 ? -128 : 0, hi = x.dtype() == DType::kInt8 ? 127 : 255;
  for (int64_t r = 0; r < n * c; ++r) {
    const int64_t sum = static_cast<int64_t>(sums[r]) - (flip ? 128 * count : 0);
    double q = count == 0 ? zy : std::nearbyint(sx * (static_cast<double>(sum) - count * zx) / count / sy) + zy;
    q = q < lo ? lo : (q > hi ? hi : q);
    if (x.dtype() == DType::kInt8) y->data<int8_t>()[r] = static_cast<int8_t>(q);
    else y->data<uint8_t>()[r] = static_cast<uint8_t>(q);
  }
  return ok_status();
}

NodeSupport supports_qgap(const Graph& g, const Node& n) {
  if (!is_q8(dtype_of(g, n, 0))) return NodeSupport::no("qlinear_global_average_pool: uint8/int8 X only");
  const int r = rank_of(g, n, 0);
  if (r < 3 || r > 5) return NodeSupport::no("qlinear_global_average_pool: rank 3-5 only");
  if (n.attrs.get_int("channels_last", 0) != 0) return NodeSupport::no("qlinear_global_average_pool: channels_last");
  for (size_t i : {size_t{1}, size_t{3}})
    if (!is_f32(g, n, i)) return NodeSupport::no("qlinear_global_average_pool: float32 scales only");
  return NodeSupport::yes();
}

}  // namespace

void register_onednn_qavgpool(CpuKernelRegistry& r) {
  r.add(OpKind::kQLinearGlobalAveragePool,
        {"qlinear_global_average_pool", supports_qgap, run_qgap, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
