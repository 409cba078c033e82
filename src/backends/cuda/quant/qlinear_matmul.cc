// CUDA QLinearMatMul: a [..., M, K] (uint8/int8) times a 2-D constant-or-runtime b [K, N] through Kiln's fused int8
// GEMM (q8_mma.cu), whose epilogue requantizes exactly as the reference does (zero points, Kiln's int32 bias input 8,
// scales, saturate attribute). Batched b (rank > 2) and per-row a/y parameters stay on the reference backend.
#include <cstdint>

#include "backends/cuda/elementwise/host_util.h"
#include "backends/cuda/quant/qgemm_host.h"
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

namespace {

bool is_q8(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

bool supports_qlinear_matmul(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (node.has_input(9)) return false;  // Kiln's residual R (fuse_qmatmul_add, CPU builds): not on CUDA
  if (!dtype_in(types, 0, {DType::kUInt8, DType::kInt8}) || !dtype_in(types, 3, {DType::kUInt8, DType::kInt8}) ||
      !dtype_in(types, 7, {DType::kUInt8, DType::kInt8}))
    return false;
  for (size_t s : {1, 4, 6})
    if (!dtype_in(types, s, {DType::kFloat32})) return false;
  if (types.size() > 3 && types[3] && types[3]->shape.rank_known && types[3]->shape.rank() != 2) return false;
  for (size_t s : {1, 2, 6, 7}) {  // a and y parameters per tensor
    if (types.size() <= s || !types[s] || !types[s]->shape.fully_known()) continue;
    for (int64_t d : types[s]->shape.concrete())
      if (d != 1) return false;
  }
  return true;
}

// Whether b's zero points can be non-zero after the shift (then the GEMM needs a's row sums). Asked once per context
// (the first run, never captured): a constant zero point is read on the host; a runtime one counts as non-zero.
Result<bool> b_zero_points_matter(CudaKernelContext& ctx, bool b_is_u8) {
  if (b_is_u8) return true;
  if (!ctx.has_input(5)) return false;
  if (!ctx.input_is_constant(5)) return true;
  KILN_ASSIGN_OR_RETURN(Tensor z, ctx.host_input(5));
  for (int64_t i = 0; i < z.numel(); ++i)
    if (z.as_int64(i) != 0) return true;
  return false;
}

Status run_qlinear_matmul(CudaKernelContext& ctx) {
  for (size_t i : {0, 3})
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " (a or b) is required");
  const DType at = ctx.input_dtype(0), bt = ctx.input_dtype(3);
  if (!is_q8(at) || !is_q8(bt))
    return ctx.unsupported(std::string("a and b must be uint8/int8 on CUDA, got ") + dtype_name(at) + " and " +
                           dtype_name(bt));
  const Dims& ad = ctx.input_dims(0);
  const Dims& bd = ctx.input_dims(3);
  if (ad.empty() || bd.size() != 2)
    return ctx.unsupported("a of rank >= 1 and a 2-D b on CUDA, got a " + dims_to_string(ad) + " and b " +
                           dims_to_string(bd));
  const int64_t k = ad.back(), n = bd[1];
  if (bd[0] != k)
    return ctx.error("a's last dimension " + std::to_string(k) + " must equal b's first " + std::to_string(bd[0]) +
                     " (a " + dims_to_string(ad) + ", b " + dims_to_string(bd) + ")");
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 1, "a_scale", 1, false));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 2, "a_zero_point", 1, false));
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 4, "b_scale", n, true));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 5, "b_zero_point", n, true));
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 6, "y_scale", 1, false));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 7, "y_zero_point", 1, false));
  const bool has_bias = ctx.num_inputs() > 8 && ctx.has_input(8);
  if (has_bias && (ctx.input_dtype(8) != DType::kInt32 || numel_of(ctx.input_dims(8)) != n))
    return ctx.error("bias (input 8) must be int32 with " + std::to_string(n) + " values, got " +
                     dtype_name(ctx.input_dtype(8)) + " " + dims_to_string(ctx.input_dims(8)));
  const DType yt = ctx.has_input(7) ? ctx.input_dtype(7) : at;
  Dims yd(ad.begin(), ad.end() - 1);
  yd.push_back(n);
  const int64_t m = k == 0 ? numel_of(yd) / std::max<int64_t>(n, 1) : numel_of(ad) / k;

  KILN_ASSIGN_OR_RETURN(DeviceTensor a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor b, ctx.input(3));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, yt, yd));
  if (y.numel() == 0) return ok_status();

  QGemmState& state = qgemm_state(ctx);
  // a is used in place when it already is int8 rows of a multiple of 16 bytes at a 16-byte aligned base (the fused
  // kernel's operand); otherwise it is copied to shifted, padded rows.
  const bool a_direct =
      at == DType::kInt8 && k % kQ8Align == 0 && k > 0 && reinterpret_cast<uintptr_t>(a.data) % kQ8Align == 0;
  // Tactics 0, 2 and 3: Kiln's int8 GEMM (three tile shapes) requantizes in its epilogue (no int32 accumulators in
  // memory); tactic 1: the int32 path (cuBLASLt int8 GEMM, then launch_requantize).
  const Q8Tactic tactic = q8_tactic(ctx);
  const bool fused = tactic.path != Q8Path::kInt32;
  const int64_t kp = a_direct ? k : round_up_q8(std::max<int64_t>(k, 1));
  const bool b_const = ctx.input_is_constant(3);
  if (state.rowsum_needed < 0) {
    KILN_ASSIGN_OR_RETURN(bool matter, b_zero_points_matter(ctx, bt == DType::kUInt8));
    state.rowsum_needed = matter ? 1 : 0;
  }
  const bool rowsum_needed = state.rowsum_needed == 1 || (ctx.has_input(5) && !ctx.input_is_constant(5));

  const int64_t n_pad = round_up_q8(n);
  const size_t w_bytes = b_const ? 0 : packed_weight_bytes(n, kp);
  const size_t a_bytes = a_direct ? 0 : align256(static_cast<size_t>(m * kp));
  const size_t acc_bytes = fused ? 0 : align256(static_cast<size_t>(m * n_pad) * sizeof(int32_t));
  const size_t rs_bytes = rowsum_needed ? align256(static_cast<size_t>(m) * sizeof(int32_t)) : 0;
  const size_t terms_bytes = requant_terms_bytes(n);
  KILN_ASSIGN_OR_RETURN(uint8_t * scratch, q8_scratch(ctx, w_bytes + a_bytes + acc_bytes + rs_bytes + terms_bytes));

  PackedQ8Weights runtime_weights;
  const PackedQ8Weights* w = nullptr;
  if (b_const) {
    if (!state.weights || state.weights->kp != kp) {
      state.weights = std::make_unique<PackedQ8Weights>();
      KILN_RETURN_IF_ERROR(
          pack_q8_weights(ctx, {b.data, bt == DType::kUInt8}, true, n, k, kp, nullptr, state.weights.get()));
    }
    w = state.weights.get();
  } else {
    KILN_RETURN_IF_ERROR(
        pack_q8_weights(ctx, {b.data, bt == DType::kUInt8}, true, n, k, kp, scratch, &runtime_weights));
    w = &runtime_weights;
  }
  const int8_t* a_rows = static_cast<const int8_t*>(a.data);
  if (!a_direct) {
    int8_t* packed = reinterpret_cast<int8_t*>(scratch + w_bytes);
    KILN_RETURN_IF_ERROR(
        launch_status(ctx, launch_pack_rows_s8({a.data, at == DType::kUInt8}, false, m, k, m, kp, packed, ctx.stream()),
                      "int8 activation packing"));
    a_rows = packed;
  }
  int32_t* acc = reinterpret_cast<int32_t*>(scratch + w_bytes + a_bytes);
  int32_t* rowsum = rowsum_needed ? reinterpret_cast<int32_t*>(scratch + w_bytes + a_bytes + acc_bytes) : nullptr;
  if (rowsum)
    KILN_RETURN_IF_ERROR(
        launch_status(ctx, launch_row_sums_s8(a_rows, m, k, kp, rowsum, ctx.stream()), "int8 activation sums"));
  RequantParams rq;
  rq.acc = acc;
  rq.m = m;
  rq.n = n;
  rq.ldacc = n_pad;
  rq.k = k;
  KILN_RETURN_IF_ERROR(read_requant_inputs(ctx, yt, has_bias, &rq));
  rq.a_shifted = at == DType::kUInt8;
  rq.b_shifted = bt == DType::kUInt8;
  rq.colsum_b = w->colsum;
  rq.rowsum_a = rowsum;
  rq.scale_in_float = true;
  rq.saturate = ctx.attrs().get_int("saturate", 0) != 0;
  rq.y = y.data;
  uint8_t* terms_scratch = scratch + w_bytes + a_bytes + acc_bytes + rs_bytes;
  KILN_RETURN_IF_ERROR(set_requant_terms(ctx, state, terms_scratch, &rq));
  if (fused) {  // a's rows (in place or packed) and the packed weights always fit the fused kernel
    KILN_ASSIGN_OR_RETURN(bool ran, run_q8_gemm_requant(ctx, *w, a_rows, kp, m, rq, n, tactic.tile));
    if (!ran) return internal_error("QLinearMatMul " + ctx.node().name + ": int8 GEMM operands are misaligned");
    return ok_status();
  }
  if (k > 0) {
    KILN_RETURN_IF_ERROR(run_q8_gemm(ctx, state, *w, a_rows, m, acc));
  } else {
    KILN_RETURN_IF_ERROR(launch_status(
        ctx, cudaMemsetAsync(acc, 0, static_cast<size_t>(m * n_pad) * sizeof(int32_t), ctx.stream()), "zero"));
  }
  return launch_status(ctx, launch_requantize(rq, ctx.stream()), "QLinearMatMul requantize");
}

}  // namespace

CudaKernel qlinear_matmul_kernel() {
  CudaKernel k{run_qlinear_matmul, supports_qlinear_matmul};
  k.num_tactics = [](CudaKernelContext&) { return kQ8RowTactics; };
  k.tactic_name = q8_tactic_name;
  k.cheap_tactics = true;
  return k;
}

}  // namespace kiln::cuda
