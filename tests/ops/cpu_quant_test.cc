// The CPU backend's int8 kernels against the reference: QuantizeLinear / DequantizeLinear (per tensor, per axis,
// uint8/int8/int32; exact), LookupTable (uint8/int8 X, 1-, 2- and 4-byte tables; exact), QLinearAdd/QLinearMul
// (same shapes, per-channel, scalar and general broadcasts, mixed uint8/int8), MaxPool on uint8/int8 (channels-last
// oneDNN pooling; exact), QLinearGlobalAveragePool (exact), QLinearConv and QLinearMatMul on oneDNN (uint8/int8 activations, int8 weights per tensor
// and per channel, bias (QLinearMatMul: Kiln's input 8, and its residual inputs 9-11), pads, strides, groups, depthwise,
// 1-D/3-D; saturating and wrapping outputs), FusedQLinearConv's residual.
// Quantized outputs match exactly except where oneDNN's float32 requantization and the reference's float64 one
// round a value lying within float32 rounding of a .5 boundary differently: at most 1 apart, on <= 0.5% of values
// (QLinearAdd/QLinearMul are float32 in both and match exactly in practice; the graph test
// tests/unit/cpu_lookup_handoff_test.cc holds them to bit identity).
#include <gtest/gtest.h>

#include "backends/cpu/cpu_backend.h"
#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

Tensor scalar_f32(float v) {
  Tensor t(DType::kFloat32, {});
  t.data<float>()[0] = v;
  return t;
}
Tensor scalar_q(DType dt, int v) {
  Tensor t(dt, {});
  if (dt == DType::kInt8) t.data<int8_t>()[0] = static_cast<int8_t>(v);
  else t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  return t;
}
Tensor random_q(DType dt, const Dims& d) { return dt == DType::kInt8 ? random_int(dt, d, -128, 127) : random_int(dt, d, 0, 255); }
Tensor random_s8(const Dims& d) {
  Tensor t(DType::kInt8, d);
  std::uniform_int_distribution<int> u(-64, 64);  // exact on CPUs without VNNI too
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(u(rng()));
  return t;
}

// Runs op with the CPU backend's kernel `want` (twice) and compares with the reference as the header says.
void check_quant(OpKind op, const std::vector<Tensor>& in, const Attrs& attrs, const std::string& what, const char* want,
                 const std::vector<size_t>& consts, int threads = 1) {
  Graph g;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = attrs;
  node.opset = 21;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string name = in[i].defined() ? "in" + std::to_string(i) : "";
    node.inputs.push_back(name);
    if (!name.empty()) g.value_types[name] = TypeInfo::tensor(in[i].dtype(), Shape::of(in[i].dims()));
  }
  node.outputs.push_back("out0");
  std::string why;
  const CpuKernel* k = cpu_kernels().select(g, node, &why);
  ASSERT_NE(k, nullptr) << what << ": refused: " << why;
  ASSERT_EQ(std::string(k->id), want) << what;
  TestCpuContext ctx(node, in, threads);
  ctx.set_constants(consts);
  Status st = k->run(ctx);
  ASSERT_TRUE(st.ok()) << what << ": " << st.message();
  st = k->run(ctx);
  ASSERT_TRUE(st.ok()) << what << " (second run): " << st.message();
  auto ref = run_reference_kernel(op, in, attrs, 1, 21);
  ASSERT_TRUE(ref.ok()) << what << ": reference: " << ref.status().message();
  const Tensor& got = ctx.outputs()[0];
  const Tensor& exp = (*ref)[0];
  ASSERT_EQ(got.dtype(), exp.dtype()) << what;
  ASSERT_EQ(got.dims(), exp.dims()) << what;
  int64_t off_by_one = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double a = got.as_double(i), b = exp.as_double(i);
    if (a == b) continue;
    if (is_float(exp.dtype())) FAIL() << what << ": element " << i << " got " << a << " want " << b;
    const double d = std::fabs(a - b);
    ASSERT_TRUE(d == 1 || d == 255) << what << ": element " << i << " got " << a << " want " << b;  // 255: a wrap
    ++off_by_one;
  }
  EXPECT_LE(off_by_one, std::max<int64_t>(1, got.numel() / 200)) << what << ": values 1 apart";
}

TEST(CpuQuant, QuantizeDequantizeExact) {
  rng().seed(2026);  // the same data whichever tests ran before
  for (DType q : {DType::kUInt8, DType::kInt8}) {
    const std::string tn = q == DType::kInt8 ? "int8" : "uint8";
    Tensor x = random_f32({3, 5, 7, 9}, -4, 4);
    check_quant(OpKind::kQuantizeLinear, {x, scalar_f32(0.031f), scalar_q(q, q == DType::kInt8 ? -3 : 128)}, {},
                "quantize per tensor " + tn, "quantize_linear", {});
    Tensor s = random_f32({5}, 0.01f, 0.05f);
    Tensor z = random_q(q, {5});
    Attrs ax;
    ax.set("axis", int64_t{1});
    check_quant(OpKind::kQuantizeLinear, {x, s, z}, ax, "quantize per axis " + tn, "quantize_linear", {});
    Tensor big = random_f32({64, 1024}, -300, 300);  // saturates; large enough for two threads
    check_quant(OpKind::kQuantizeLinear, {big, scalar_f32(0.5f), scalar_q(q, 3)}, {}, "quantize saturating " + tn,
                "quantize_linear", {}, 2);
    Tensor xq = random_q(q, {3, 5, 7, 9});
    check_quant(OpKind::kDequantizeLinear, {xq, scalar_f32(0.0173f), scalar_q(q, 7)}, {}, "dequantize per tensor " + tn,
                "dequantize_linear", {});
    check_quant(OpKind::kDequantizeLinear, {xq, s, z}, ax, "dequantize per axis " + tn, "dequantize_linear", {});
  }
  check_quant(OpKind::kQuantizeLinear, {random_f32({10}), scalar_f32(0.1f)}, {}, "quantize without zero point",
              "quantize_linear", {});
  check_quant(OpKind::kDequantizeLinear, {random_int(DType::kInt32, {33}, -100000, 100000), scalar_f32(0.001f)}, {},
              "dequantize int32", "dequantize_linear", {});
}

TEST(CpuQuant, LookupTableExact) {
  rng().seed(2026);
  for (DType xt : {DType::kUInt8, DType::kInt8}) {
    for (DType tt : {DType::kUInt8, DType::kInt8, DType::kFloat16, DType::kFloat32}) {
      const std::string what = std::string("lookup ") + dtype_name(xt) + " -> " + dtype_name(tt);
      Tensor table = tt == DType::kFloat32 ? random_f32({256}, -5, 5) : random_q(tt, {256});
      if (tt == DType::kFloat16) {  // finite half values (bits below 0x3c00: 0 .. 1)
        table = Tensor(DType::kFloat16, {256});
        std::uniform_int_distribution<int> u(0, 0x3bff);
        for (int i = 0; i < 256; ++i) table.data<uint16_t>()[i] = static_cast<uint16_t>(u(rng()));
      }
      check_quant(OpKind::kLookupTable, {random_q(xt, {2, 3, 17}), table}, {}, what, "lookup_table", {1});
      check_quant(OpKind::kLookupTable, {random_q(xt, {96, 1111}), table}, {}, what + " (two threads)", "lookup_table",
                  {1}, 2);
    }
  }
}

TEST(CpuQuant, QLinearAddMulExact) {
  rng().seed(2026);
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{2, 5, 7, 9}, {2, 5, 7, 9}}, {{2, 5, 7, 9}, {1, 5, 1, 1}}, {{1, 5, 1, 1}, {2, 5, 7, 9}},
      {{3, 1, 4}, {2, 1}},          {{6, 10}, {}},                {{64, 1100}, {64, 1100}}};
  for (OpKind op : {OpKind::kQLinearAdd, OpKind::kQLinearMul}) {
    for (DType at : {DType::kUInt8, DType::kInt8}) {
      for (DType ct : {DType::kUInt8, DType::kInt8}) {
        for (const auto& [ad, bd] : shapes) {
          const DType bt = at == ct ? at : DType::kUInt8;  // mixed A/B types once in a while
          const std::string what = std::string(op == OpKind::kQLinearAdd ? "add " : "mul ") + dtype_name(at) + "," +
                                   dtype_name(bt) + " -> " + dtype_name(ct) + " " + dims_to_string(ad) + " . " +
                                   dims_to_string(bd);
          const float sc = op == OpKind::kQLinearAdd ? 0.04f : 0.0021f;
          std::vector<Tensor> in{random_q(at, ad), scalar_f32(0.019f), scalar_q(at, 3),
                                 random_q(bt, bd), scalar_f32(0.023f), scalar_q(bt, at == bt ? -2 : 7),
                                 scalar_f32(sc),   scalar_q(ct, ct == DType::kInt8 ? -5 : 130)};
          check_quant(op, in, {}, what, "qlinear_binary", {1, 2, 4, 5, 6, 7}, ad.size() == 2 && ad[0] == 64 ? 2 : 1);
        }
      }
    }
  }
}

TEST(CpuQuant, MaxPool8BitChannelsLast) {
  rng().seed(2026);
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (const Dims& d : {Dims{1, 16, 13, 11}, Dims{2, 5, 9, 9}, Dims{1, 3, 20}}) {
      Attrs a;
      a.set("kernel_shape", d.size() == 3 ? Dims{3} : Dims{3, 3});
      a.set("strides", d.size() == 3 ? Dims{2} : Dims{2, 2});
      a.set("pads", d.size() == 3 ? Dims{1, 1} : Dims{1, 1, 1, 1});
      check_quant(OpKind::kMaxPool, {random_q(t, d)}, a, std::string("max pool ") + dtype_name(t) + " " +
                  dims_to_string(d), "onednn_pool", {});
    }
  }
}

TEST(CpuQuant, QLinearGlobalAveragePoolExact) {
  rng().seed(2026);
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (const Dims& d : {Dims{1, 16, 7, 7}, Dims{3, 5, 4, 9}, Dims{2, 3, 11}, Dims{1, 4, 2, 3, 5}}) {
      std::vector<Tensor> in{random_q(t, d), scalar_f32(0.023f), scalar_q(t, t == DType::kInt8 ? -7 : 121),
                             scalar_f32(0.011f), scalar_q(t, t == DType::kInt8 ? 3 : 118)};
      check_quant(OpKind::kQLinearGlobalAveragePool, in, {}, std::string("qgap ") + dtype_name(t) + " " +
                  dims_to_string(d), "qlinear_global_average_pool", {1, 2, 3, 4});
    }
  }
}

struct QConvCase {
  Dims x, w;
  Dims pads, strides;
  int64_t group;
  bool bias, per_channel;
};

TEST(CpuQuant, QLinearConvOnOnednn) {
  rng().seed(2026);  // the same data whichever tests ran before
  const std::vector<QConvCase> cases = {
      {{1, 3, 8, 8}, {4, 3, 3, 3}, {1, 1, 1, 1}, {1, 1}, 1, true, true},
      {{2, 5, 7, 11}, {7, 5, 3, 2}, {0, 1, 2, 0}, {2, 1}, 1, false, false},  // asymmetric pads
      {{1, 16, 9, 9}, {16, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, 16, true, true},  // depthwise
      {{1, 6, 5, 5}, {9, 2, 1, 1}, {}, {}, 3, true, true},                   // grouped 1x1
      {{2, 32, 14, 14}, {64, 32, 1, 1}, {}, {}, 1, true, true},              // pointwise, larger
      {{1, 4, 20}, {6, 4, 5}, {2, 2}, {1}, 1, true, true},                   // 1-D
      {{1, 2, 4, 5, 6}, {3, 2, 3, 3, 3}, {1, 1, 1, 1, 1, 1}, {1, 1, 1}, 1, true, false},  // 3-D
      // An AMX 1x1 convolution on a small image: oneDNN 2.6 writes past its channels-last destination (qconv.cc's
      // slack_memory; heap corruption, then a crash, in PP-OCR's detector on this CPU).
      {{1, 192, 6, 8}, {384, 192, 1, 1}, {}, {}, 1, false, true},
  };
  for (DType xt : {DType::kUInt8, DType::kInt8}) {
    for (DType yt : {DType::kUInt8, DType::kInt8}) {
      for (const QConvCase& c : cases) {
        const std::string what = std::string("qconv x") + dtype_name(xt) + " y" + dtype_name(yt) + " " +
                                 dims_to_string(c.x) + " w" + dims_to_string(c.w) + " g" + std::to_string(c.group);
        Attrs a;
        if (!c.pads.empty()) a.set("pads", c.pads);
        if (!c.strides.empty()) a.set("strides", c.strides);
        a.set("group", c.group);
        const int64_t m = c.w[0];
        Tensor ws = c.per_channel ? random_f32({m}, 0.002f, 0.01f) : scalar_f32(0.005f);
        Tensor wz = c.per_channel ? Tensor(DType::kInt8, {m}) : scalar_q(DType::kInt8, 0);
        if (c.per_channel) std::fill(wz.data<int8_t>(), wz.data<int8_t>() + m, 0);
        std::vector<Tensor> in{random_q(xt, c.x), scalar_f32(0.02f), scalar_q(xt, xt == DType::kInt8 ? -5 : 121),
                               random_s8(c.w), ws, wz, scalar_f32(0.05f), scalar_q(yt, yt == DType::kInt8 ? 2 : 117)};
        if (c.bias) in.push_back(random_int(DType::kInt32, {m}, -20000, 20000));
        check_quant(OpKind::kQLinearConv, in, a, what, "onednn_qconv", {3, 4, 5, 8});
      }
    }
  }
}

// FusedQLinearConv (fuse_qconv_add): the residual R through oneDNN's sum post-op, R uint8 or int8 with its own scale
// and zero point, y of either type; with and without bias, per-channel weights, grouped and 1-D.
TEST(CpuQuant, FusedQLinearConvResidual) {
  rng().seed(2027);
  const std::vector<QConvCase> cases = {
      {{1, 8, 9, 9}, {8, 8, 3, 3}, {1, 1, 1, 1}, {1, 1}, 1, true, true},
      {{2, 32, 14, 14}, {64, 32, 1, 1}, {}, {}, 1, true, false},
      {{1, 16, 10, 10}, {16, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, 16, false, true},  // depthwise, stride 2
      {{1, 4, 20}, {6, 4, 5}, {2, 2}, {1}, 1, true, true},                      // 1-D
  };
  for (DType rt : {DType::kUInt8, DType::kInt8}) {
    for (DType yt : {DType::kUInt8, DType::kInt8}) {
      for (const QConvCase& c : cases) {
        // int8 x (ModelOpt-style symmetric activations) with an int8 residual and y; uint8 x with every mix.
        const DType xt = rt == DType::kInt8 && yt == DType::kInt8 ? DType::kInt8 : DType::kUInt8;
        const std::string what = std::string("fused qconv x") + dtype_name(xt) + " r" + dtype_name(rt) + " y" +
                                 dtype_name(yt) + " " + dims_to_string(c.x) + " w" + dims_to_string(c.w);
        Attrs a;
        if (!c.pads.empty()) a.set("pads", c.pads);
        if (!c.strides.empty()) a.set("strides", c.strides);
        a.set("group", c.group);
        const int64_t m = c.w[0];
        Dims y{c.x[0], m};
        for (size_t i = 2; i < c.x.size(); ++i) {
          const int64_t pad = c.pads.empty() ? 0 : c.pads[i - 2] + c.pads[i - 2 + c.x.size() - 2];
          const int64_t stride = c.strides.empty() ? 1 : c.strides[i - 2];
          y.push_back((c.x[i] + pad - c.w[i]) / stride + 1);
        }
        Tensor ws = c.per_channel ? random_f32({m}, 0.002f, 0.01f) : scalar_f32(0.005f);
        Tensor wz = c.per_channel ? Tensor(DType::kInt8, {m}) : scalar_q(DType::kInt8, 0);
        if (c.per_channel) std::fill(wz.data<int8_t>(), wz.data<int8_t>() + m, 0);
        std::vector<Tensor> in{random_q(xt, c.x), scalar_f32(0.02f), scalar_q(xt, xt == DType::kInt8 ? 0 : 121),
                               random_s8(c.w), ws, wz, scalar_f32(0.05f), scalar_q(yt, yt == DType::kInt8 ? 2 : 117),
                               c.bias ? random_int(DType::kInt32, {m}, -20000, 20000) : Tensor(),
                               random_q(rt, y), scalar_f32(0.03f), scalar_q(rt, rt == DType::kInt8 ? -3 : 130)};
        check_quant(OpKind::kFusedQLinearConv, in, a, what, "onednn_qconv",
                    c.bias ? std::vector<size_t>{3, 4, 5, 8} : std::vector<size_t>{3, 4, 5});
      }
    }
  }
}

TEST(CpuQuant, QLinearMatMulOnOnednn) {
  rng().seed(2026);  // the same data whichever tests ran before
  struct Case { Dims a, b; bool per_column; float y_scale; int sat; };
  const std::vector<Case> cases = {
      {{4, 16}, {16, 8}, false, 0.05f, 0},
      {{2, 7, 33}, {33, 19}, true, 0.08f, 0},
      {{3, 5, 64}, {64, 100}, true, 0.004f, 1},   // small y_scale: many values out of range, saturated
      {{3, 5, 64}, {64, 100}, true, 0.004f, 0},   // ... and wrapped
      {{1, 128}, {128, 256}, true, 0.1f, 1},
  };
  for (DType at : {DType::kUInt8, DType::kInt8}) {
    for (DType yt : {DType::kUInt8, DType::kInt8}) {
      for (const Case& c : cases) {
        const std::string what = std::string("qmatmul a") + dtype_name(at) + " y" + dtype_name(yt) + " " +
                                 dims_to_string(c.a) + "x" + dims_to_string(c.b) + " sat" + std::to_string(c.sat);
        const int64_t n = c.b[1];
        Tensor bs = c.per_column ? random_f32({n}, 0.002f, 0.01f) : scalar_f32(0.006f);
        Tensor bz = c.per_column ? Tensor(DType::kInt8, {n}) : scalar_q(DType::kInt8, 0);
        if (c.per_column) std::fill(bz.data<int8_t>(), bz.data<int8_t>() + n, 0);
        Attrs a;
        if (c.sat) a.set("saturate", int64_t{1});
        std::vector<Tensor> in{random_q(at, c.a), scalar_f32(0.03f), scalar_q(at, at == DType::kInt8 ? 4 : 130),
                               random_s8(c.b), bs, bz, scalar_f32(c.y_scale), scalar_q(yt, yt == DType::kInt8 ? -1 : 128)};
        check_quant(OpKind::kQLinearMatMul, in, a, what, "onednn_qmatmul", {3, 4, 5});
        in.push_back(random_int(DType::kInt32, {n}, -3000, 3000));  // Kiln's input 8: an int32 bias
        check_quant(OpKind::kQLinearMatMul, in, a, what + " bias", "onednn_qmatmul", {3, 4, 5, 8});
        if (!c.sat) continue;
        // Kiln's inputs 9-11 (fuse_qmatmul_add): a residual R of Y's shape, R's type the other 8-bit one than y's.
        Dims y = c.a;
        y.back() = n;
        const DType rt = yt == DType::kInt8 ? DType::kUInt8 : DType::kInt8;
        in.insert(in.end(), {random_q(rt, y), scalar_f32(0.02f), scalar_q(rt, rt == DType::kInt8 ? 3 : 125)});
        check_quant(OpKind::kQLinearMatMul, in, a, what + " bias residual", "onednn_qmatmul", {3, 4, 5, 8});
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu::test
