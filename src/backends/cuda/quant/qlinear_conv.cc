// CUDA QLinearConv over 8-bit tensors, NCHW (1-D and 2-D windows) or channels-last (2-D, the layout_nhwc pass's
// layout="NHWC"): group 1 runs as im2col + an int8 GEMM that requantizes (below), in
// chunks of images that bound the scratch; a channels-last 1x1 stride-1 convolution over int8 rows of 16-byte
// multiples skips the im2col (its input is the GEMM operand). Grouped convolutions (depthwise included) run a direct
// kernel. Per-channel weight scales and zero points; x and y per tensor. 3-D windows stay on the reference backend.
// The group-1 GEMM is Kiln's fused int8 kernel (q8_mma.cu): it requantizes in its epilogue, exactly as the reference
// does, so the int32 accumulators never reach memory.
#include <algorithm>

#include "backends/cuda/conv/window.h"
#include "backends/cuda/elementwise/host_util.h"
#include "backends/cuda/quant/qgemm_host.h"
#include "backends/cuda/quant/quant_kernels.h"

namespace kiln::cuda {

namespace {

// Scratch the GEMM path may use per chunk of images (im2col rows and int32 accumulators).
constexpr size_t kConvChunkBytes = size_t{512} << 20;

bool supports_qlinear_conv(const Node& node, const std::vector<const TypeInfo*>& types) {
  const std::string layout = node.attrs.get_string("layout", "NCHW");
  if (layout != "NCHW" && layout != "NHWC") return false;
  if (!dtype_in(types, 0, {DType::kUInt8, DType::kInt8}) || !dtype_in(types, 3, {DType::kUInt8, DType::kInt8}) ||
      !dtype_in(types, 7, {DType::kUInt8, DType::kInt8}) || !dtype_in(types, 8, {DType::kInt32}))
    return false;
  for (size_t s : {1, 4, 6})
    if (!dtype_in(types, s, {DType::kFloat32})) return false;
  if (!types.empty() && types[0] && types[0]->shape.rank_known && types[0]->shape.rank() != 3 &&
      types[0]->shape.rank() != 4)
    return false;
  if (layout == "NHWC" && !types.empty() && types[0] && types[0]->shape.rank_known && types[0]->shape.rank() != 4)
    return false;
  return true;
}

Status run_qlinear_conv(CudaKernelContext& ctx) {
  for (size_t i : {0, 3})
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " (x or w) is required");
  const DType xt = ctx.input_dtype(0), wt = ctx.input_dtype(3);
  if ((xt != DType::kUInt8 && xt != DType::kInt8) || (wt != DType::kUInt8 && wt != DType::kInt8))
    return ctx.unsupported(std::string("x and w must be uint8/int8, got ") + dtype_name(xt) + " and " + dtype_name(wt));
  const Dims& xd = ctx.input_dims(0);
  const Dims& wd = ctx.input_dims(3);
  const bool nhwc = ctx.attrs().get_string("layout", "NCHW") == "NHWC";
  if ((xd.size() != 3 && xd.size() != 4) || wd.size() != xd.size() || (nhwc && xd.size() != 4))
    return ctx.unsupported(std::string(nhwc ? "2-D" : "1-D or 2-D") + " QLinearConv on CUDA, got x " +
                           dims_to_string(xd) + " and w " + dims_to_string(wd));
  const int64_t group = ctx.attrs().get_int("group", 1);
  const int64_t nb = xd[0], c = nhwc ? xd[3] : xd[1], oc = wd[0], cg = nhwc ? wd[3] : wd[1];
  if (group < 1 || c % group != 0 || oc % group != 0 || cg * group != c)
    return ctx.error("group " + std::to_string(group) + " does not fit x " + dims_to_string(xd) + " and w " +
                     dims_to_string(wd) + " (w's second dimension times group must equal x's channels)");
  ConvWindow win;
  KILN_RETURN_IF_ERROR(compute_conv_window(ctx, spatial_of(xd, nhwc), spatial_of(wd, nhwc), false, &win));
  const bool two_d = xd.size() == 4;
  const Dims xs = spatial_of(xd, nhwc), ks = spatial_of(wd, nhwc);
  const int64_t h = two_d ? xs[0] : 1, w = two_d ? xs[1] : xs[0];
  const int64_t kh = two_d ? ks[0] : 1, kw = two_d ? ks[1] : ks[0];
  const int64_t oh = two_d ? win.out[0] : 1, ow = two_d ? win.out[1] : win.out[0];
  const size_t wi = two_d ? 1 : 0;  // the window's index of the width axis
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 1, "x_scale", 1, false));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 2, "x_zero_point", 1, false));
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 4, "w_scale", oc, true));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 5, "w_zero_point", oc, true));
  KILN_RETURN_IF_ERROR(check_q_scale(ctx, 6, "y_scale", 1, false));
  KILN_RETURN_IF_ERROR(check_q_zero_point(ctx, 7, "y_zero_point", 1, false));
  const bool has_bias = ctx.num_inputs() > 8 && ctx.has_input(8);
  if (has_bias && (ctx.input_dtype(8) != DType::kInt32 || ctx.input_dims(8) != Dims{oc}))
    return ctx.error("bias B must be int32 [" + std::to_string(oc) + "], got " + dtype_name(ctx.input_dtype(8)) + " " +
                     dims_to_string(ctx.input_dims(8)));
  const DType yt = ctx.has_input(7) ? ctx.input_dtype(7) : xt;
  Dims yd = nhwc ? Dims{nb, oh, ow, oc} : Dims{nb, oc};
  if (!nhwc) {
    if (two_d) yd.push_back(oh);
    yd.push_back(ow);
  }

  KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(DeviceTensor wten, ctx.input(3));
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, yt, yd));
  if (y.numel() == 0) return ok_status();

  RequantParams rq;
  KILN_RETURN_IF_ERROR(read_requant_inputs(ctx, yt, has_bias, &rq));
  rq.scale_in_float = false;  // the reference forms x_scale * w_scale / y_scale in double
  rq.saturate = true;

  if (group > 1) {
    DirectQConvParams d;
    d.x = {x.data, xt == DType::kUInt8};
    d.w = {wten.data, wt == DType::kUInt8};
    d.channels_last = nhwc;
    d.n = nb, d.c = c, d.h = h, d.wd = w, d.oc = oc, d.group = group;
    d.kh = kh, d.kw = kw, d.oh = oh, d.ow = ow;
    d.stride_h = two_d ? win.strides[0] : 1, d.stride_w = win.strides[wi];
    d.dil_h = two_d ? win.dilations[0] : 1, d.dil_w = win.dilations[wi];
    d.pad_top = two_d ? win.pads[0] : 0, d.pad_left = win.pads[wi];
    rq.y = y.data;
    return launch_status(ctx, launch_direct_qconv(d, rq, ctx.stream()), "grouped QLinearConv");
  }

  // Group 1: im2col rows [images * oh * ow][kp] times the packed weights [oc][kp].
  QGemmState& state = qgemm_state(ctx);
  const int64_t k = c * kh * kw, kp = round_up_q8(k), n_pad = round_up_q8(oc), pixels = oh * ow;
  if (state.rowsum_needed < 0) {
    bool matter = wt == DType::kUInt8 || !ctx.input_is_constant(5);
    if (!matter && ctx.has_input(5)) {
      KILN_ASSIGN_OR_RETURN(Tensor z, ctx.host_input(5));  // the first run, never captured
      for (int64_t i = 0; i < z.numel() && !matter; ++i) matter = z.as_int64(i) != 0;
    }
    state.rowsum_needed = matter ? 1 : 0;
  }
  const bool rowsum_needed = state.rowsum_needed == 1 || (ctx.has_input(5) && !ctx.input_is_constant(5));
  const bool w_const = ctx.input_is_constant(3);
  // A channels-last 1x1 stride-1 unpadded convolution over int8 rows that are already GEMM rows (c = kp).
  const bool direct_rows = nhwc && kh == 1 && kw == 1 && win.strides[0] == 1 && win.strides[1] == 1 &&
                           win.pads[0] == 0 && win.pads[1] == 0 && win.pads[2] == 0 && win.pads[3] == 0 &&
                           xt == DType::kInt8 && c == kp && reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
  // Tactics 0, 2 and 3: Kiln's int8 GEMM requantizes in its epilogue (the int32 products never reach memory);
  // tactic 1: the int32 path (cuBLASLt int8 GEMM, then launch_requantize); tactics 4-6: the fused GEMM reads the
  // window taps straight from a channels-last int8 input (c % 16 == 0, every weight zero point 0): no im2col
  // buffer. Where those cannot run they run as tactics 0, 2 and 3 (qgemm_host.h).
  const Q8Tactic tactic = q8_tactic(ctx);
  const bool fused = tactic.path != Q8Path::kInt32;
  const bool implicit = tactic.path == Q8Path::kImplicit && nhwc && xt == DType::kInt8 && c % 16 == 0 &&
                        !rowsum_needed && kh * kw <= 32 && !direct_rows &&
                        reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
  const bool im2col = !direct_rows && !implicit;

  PackedQ8Weights runtime_weights;
  const PackedQ8Weights* packed = nullptr;
  const Q8Source wsrc{wten.data, wt == DType::kUInt8};
  const size_t w_bytes = w_const ? 0 : packed_weight_bytes(oc, kp);
  const size_t terms_bytes = requant_terms_bytes(oc);
  const size_t tap_bytes = implicit && !w_const ? align256(static_cast<size_t>(n_pad * kh * kw) * sizeof(int32_t)) : 0;
  const size_t per_image = (im2col ? align256(static_cast<size_t>(pixels * kp)) : 0) +
                           (fused ? 0 : align256(static_cast<size_t>(pixels * n_pad) * sizeof(int32_t))) +
                           (rowsum_needed ? align256(static_cast<size_t>(pixels) * sizeof(int32_t)) : 0);
  const int64_t chunk =
      std::clamp<int64_t>(static_cast<int64_t>(kConvChunkBytes / std::max<size_t>(per_image, 1)), 1, nb);
  const int64_t rows = chunk * pixels;
  const size_t col_bytes = im2col ? align256(static_cast<size_t>(rows * kp)) : 0;
  const size_t acc_bytes = fused ? 0 : align256(static_cast<size_t>(rows * n_pad) * sizeof(int32_t));
  const size_t rs_bytes = rowsum_needed ? align256(static_cast<size_t>(rows) * sizeof(int32_t)) : 0;
  KILN_ASSIGN_OR_RETURN(uint8_t * scratch,
                        q8_scratch(ctx, w_bytes + terms_bytes + col_bytes + acc_bytes + rs_bytes + tap_bytes));
  if (w_const) {
    if (!state.weights) {
      state.weights = std::make_unique<PackedQ8Weights>();
      KILN_RETURN_IF_ERROR(pack_q8_weights(ctx, wsrc, false, oc, k, kp, nullptr, state.weights.get()));
    }
    packed = state.weights.get();
  } else {
    KILN_RETURN_IF_ERROR(pack_q8_weights(ctx, wsrc, false, oc, k, kp, scratch, &runtime_weights));
    packed = &runtime_weights;
  }
  uint8_t* terms_scratch = scratch + w_bytes;
  int8_t* col = reinterpret_cast<int8_t*>(scratch + w_bytes + terms_bytes);
  int32_t* acc = fused ? nullptr : reinterpret_cast<int32_t*>(scratch + w_bytes + terms_bytes + col_bytes);
  int32_t* rowsum =
      rowsum_needed ? reinterpret_cast<int32_t*>(scratch + w_bytes + terms_bytes + col_bytes + acc_bytes) : nullptr;
  Q8ImplicitConv conv;
  if (implicit) {
    KILN_ASSIGN_OR_RETURN(
        conv.tap_sums,
        q8_tap_sums(ctx, state, *packed, kh * kw, c,
                    w_const ? nullptr : scratch + w_bytes + terms_bytes + col_bytes + acc_bytes + rs_bytes));
    conv.h = h, conv.w = w, conv.c = c, conv.kh = kh, conv.kw = kw, conv.oh = oh, conv.ow = ow;
    conv.stride_h = win.strides[0], conv.stride_w = win.strides[1];
    conv.dil_h = win.dilations[0], conv.dil_w = win.dilations[1];
    conv.pad_top = win.pads[0], conv.pad_left = win.pads[1];
  }

  Im2ColParams ip;
  ip.x = {x.data, xt == DType::kUInt8};
  ip.channels_last = nhwc;
  ip.c = c, ip.h = h, ip.w = w;
  ip.kh = kh, ip.kw = kw, ip.oh = oh, ip.ow = ow;
  ip.stride_h = two_d ? win.strides[0] : 1, ip.stride_w = win.strides[wi];
  ip.dil_h = two_d ? win.dilations[0] : 1, ip.dil_w = win.dilations[wi];
  ip.pad_top = two_d ? win.pads[0] : 0, ip.pad_left = win.pads[wi];
  ip.pad_value = rq.a_zp.data;
  ip.kp = kp;
  ip.dst = col;
  rq.n = oc;
  rq.ldacc = n_pad;
  rq.k = k;
  rq.a_shifted = xt == DType::kUInt8;
  rq.b_shifted = wt == DType::kUInt8;
  rq.colsum_b = packed->colsum;
  rq.rowsum_a = rowsum;
  rq.acc = acc;
  rq.rows_per_image = nhwc ? 0 : pixels;  // channels-last: output rows are the GEMM's rows
  KILN_RETURN_IF_ERROR(set_requant_terms(ctx, state, terms_scratch, &rq));
  const size_t x_image = static_cast<size_t>(c * h * w), y_image = static_cast<size_t>(oc * pixels);
  for (int64_t first = 0; first < nb; first += chunk) {
    const int64_t images = std::min(chunk, nb - first);
    ip.n = images;
    ip.x.data = static_cast<const uint8_t*>(x.data) + first * x_image;
    const int64_t m = images * pixels;
    rq.y = static_cast<int8_t*>(y.data) + first * y_image;
    if (implicit) {
      conv.x = static_cast<const int8_t*>(ip.x.data);
      conv.n = images;
      KILN_ASSIGN_OR_RETURN(bool ran, run_q8_implicit_conv(ctx, *packed, conv, m, rq, oc, tactic.tile));
      if (!ran) return internal_error("QLinearConv " + ctx.node().name + ": implicit int8 GEMM operands do not fit");
      continue;
    }
    const int8_t* a_rows = col;
    if (direct_rows)
      a_rows = static_cast<const int8_t*>(ip.x.data);
    else
      KILN_RETURN_IF_ERROR(launch_status(ctx, launch_im2col_s8(ip, ctx.stream()), "QLinearConv im2col"));
    if (rowsum)
      KILN_RETURN_IF_ERROR(
          launch_status(ctx, launch_row_sums_s8(a_rows, m, k, kp, rowsum, ctx.stream()), "QLinearConv input sums"));
    if (fused) {
      // a's rows (im2col scratch, or the input whose c == kp is a multiple of 16 at a 16-byte aligned base) always
      // fit the fused kernel.
      KILN_ASSIGN_OR_RETURN(bool ran, run_q8_gemm_requant(ctx, *packed, a_rows, kp, m, rq, oc, tactic.tile));
      if (!ran) return internal_error("QLinearConv " + ctx.node().name + ": int8 GEMM operands are misaligned");
      continue;
    }
    KILN_RETURN_IF_ERROR(run_q8_gemm(ctx, state, *packed, a_rows, m, acc));
    rq.m = m;
    KILN_RETURN_IF_ERROR(launch_status(ctx, launch_requantize(rq, ctx.stream()), "QLinearConv requantize"));
  }
  return ok_status();
}

}  // namespace

// Group 1: the fused GEMM (three tile shapes) and the int32 path; three more, the implicit im2col, for a channels-last
// int8 input with c % 16 == 0 whose window is not the in-place 1x1 stride-1 case.
int qlinear_conv_tactics(CudaKernelContext& ctx) {
  if (ctx.attrs().get_int("group", 1) != 1) return 1;
  const Dims& xd = ctx.input_dims(0);
  const Dims& wd = ctx.input_dims(3);
  const bool nhwc = ctx.attrs().get_string("layout", "NCHW") == "NHWC" && xd.size() == 4 && wd.size() == 4;
  if (!nhwc || ctx.input_dtype(0) != DType::kInt8 || xd[3] % 16 != 0 || wd[1] * wd[2] > 32) return kQ8RowTactics;
  bool strided = false;
  for (int64_t s : ctx.attrs().get_ints("strides")) strided |= s != 1;
  return wd[1] * wd[2] > 1 || strided ? kQ8ConvTactics : kQ8RowTactics;
}

CudaKernel qlinear_conv_kernel() {
  CudaKernel k{run_qlinear_conv, supports_qlinear_conv};
  k.num_tactics = qlinear_conv_tactics;
  k.tactic_name = q8_tactic_name;
  k.cheap_tactics = true;
  return k;
}

}  // namespace kiln::cuda
