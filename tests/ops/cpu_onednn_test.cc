// The oneDNN-backed CPU kernels (Conv/FusedConv, MatMul/Gemm/FusedMatMul, pooling) against the reference
// kernels on random and odd shapes. Tolerance: |cpu - ref| <= 1e-4 + 1e-4*|ref| (float32 accumulation order
// differs from the reference's double).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/onednn/common.h"
#include "tests/ops/cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

constexpr double kRel = 1e-4, kAbs = 1e-4;

// Runs `op` with the first cpu_kernels() kernel that supports it (twice: prepared state must not change the
// answer) and compares with the reference kernel. `bf16`: the context allows bfloat16 math (--precision bf16), and
// the tolerance is bf16's budget (docs/conformance.md).
void check(OpKind op, const std::vector<Tensor>& inputs, const Attrs& attrs, const std::string& what,
           const std::vector<size_t>& consts = {1}, int threads = 1, const std::string& want_kernel = "",
           bool bf16 = false, Tensor* out = nullptr, double abs_of_peak = 0) {
  Graph g;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = attrs;
  node.opset = 18;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name = inputs[i].defined() ? "in" + std::to_string(i) : "";
    node.inputs.push_back(name);
    if (name.empty()) continue;
    g.value_types[name] = TypeInfo::tensor(inputs[i].dtype(), Shape::of(inputs[i].dims()));
  }
  node.outputs.push_back("out0");
  std::string why;
  const CpuKernel* k = cpu_kernels().select(g, node, &why);
  ASSERT_NE(k, nullptr) << what << ": refused: " << why;
  if (!want_kernel.empty()) EXPECT_EQ(std::string(k->id), want_kernel) << what;
  TestCpuContext ctx(node, inputs, threads);
  ctx.set_allow_bf16(bf16);
  Status st = k->run(ctx);
  ASSERT_TRUE(st.ok()) << what << ": " << st.message();
  st = k->run(ctx);
  ASSERT_TRUE(st.ok()) << what << " (second run): " << st.message();
  auto ref = run_reference_kernel(op, inputs, attrs, 1, 18);
  ASSERT_TRUE(ref.ok()) << what << ": reference: " << ref.status().message();
  if (out) *out = ctx.outputs()[0];
  if (bf16) {  // docs/conformance.md's bf16 budget: 4e-2 relative, 1.6e-2 * max|expected| absolute
    double peak = 0;
    for (int64_t i = 0; i < (*ref)[0].numel(); ++i) peak = std::max(peak, std::fabs((*ref)[0].as_double(i)));
    expect_close(ctx.outputs()[0], (*ref)[0], 4e-2, 1.6e-2 * peak, what + " (bf16)");
    return;
  }
  double abs = kAbs;
  if (abs_of_peak > 0) {
    double peak = 0;
    for (int64_t i = 0; i < (*ref)[0].numel(); ++i) peak = std::max(peak, std::fabs((*ref)[0].as_double(i)));
    abs = std::max(abs, abs_of_peak * peak);
  }
  expect_close(ctx.outputs()[0], (*ref)[0], kRel, abs, what);
}

Attrs conv_attrs(Dims pads, Dims strides, Dims dil, int64_t group) {
  Attrs a;
  if (!pads.empty()) a.set("pads", pads);
  if (!strides.empty()) a.set("strides", strides);
  if (!dil.empty()) a.set("dilations", dil);
  a.set("group", group);
  return a;
}

TEST(CpuOnednnConv, TwoDimensionalShapes) {
  struct Case { Dims x, w; Dims pads, strides, dil; int64_t group; bool bias; };
  std::vector<Case> cases = {
      {{1, 3, 8, 8}, {4, 3, 3, 3}, {1, 1, 1, 1}, {1, 1}, {1, 1}, 1, true},
      {{2, 5, 7, 11}, {7, 5, 3, 2}, {0, 1, 2, 0}, {2, 1}, {1, 2}, 1, false},       // asymmetric pads, dilation
      {{1, 8, 9, 9}, {8, 1, 3, 3}, {1, 1, 1, 1}, {2, 2}, {1, 1}, 8, true},        // depthwise
      {{1, 6, 5, 5}, {9, 2, 1, 1}, {}, {}, {}, 3, true},                           // grouped 1x1
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {}, {}, {}, 1, false},                          // size 1
      {{3, 13, 17, 5}, {11, 13, 5, 3}, {2, 1, 2, 1}, {3, 2}, {1, 1}, 1, true},     // primes
      {{1, 6, 7, 5}, {4, 6, 3, 3}, {9, 9, 9, 9}, {1, 1}, {9, 9}, 1, true},         // atrous: only the centre tap lives
      {{1, 4, 10, 9}, {6, 2, 3, 3}, {6, 8, 6, 8}, {1, 2}, {6, 8}, 2, false},       // atrous, partly dead taps
      {{1, 3, 12, 6}, {2, 3, 5, 3}, {7, 0, 1, 2}, {2, 1}, {4, 1}, 1, true},        // dead taps on one side
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::vector<Tensor> in{random_f32(c.x), random_f32(c.w), c.bias ? random_f32({c.w[0]}) : Tensor()};
    check(OpKind::kConv, in, conv_attrs(c.pads, c.strides, c.dil, c.group), "conv2d case " + std::to_string(i), {1, 2}, 1,
          "onednn_conv");
    check(OpKind::kConv, in, conv_attrs(c.pads, c.strides, c.dil, c.group), "conv2d 2 threads case " + std::to_string(i),
          {1, 2}, 2);
  }
}

// oneDNN's Winograd kernel (conv.cc winograd_pays: 3x3, stride 1, >= 64 channels, >= 28x28 outputs): its transforms
// round differently from a direct sum, so an element's error is bounded by the output's scale, not its own size
// (docs/precision.md: 2e-5 of the largest output magnitude). KILN_CPU_WINOGRAD=0 runs the direct kernel, held to the
// tight bound above.
TEST(CpuOnednnConv, WinogradWithinItsBudget) {
  const std::vector<std::pair<Dims, Dims>> cases = {{{1, 64, 28, 28}, {64, 64, 3, 3}}, {{2, 96, 30, 29}, {128, 96, 3, 3}}};
  for (const auto& [x, w] : cases) {
    std::vector<Tensor> in{random_f32(x), random_f32(w), random_f32({w[0]})};
    for (int threads : {1, 2})
      check(OpKind::kConv, in, conv_attrs({1, 0, 1, 1}, {1, 1}, {1, 1}, 1),
            "winograd " + dims_to_string(x) + " threads " + std::to_string(threads), {1, 2}, threads, "onednn_conv", false,
            nullptr, 2e-5);
  }
  // Fused activations (SiLU and GELU have no Winograd post-op: they run as a pass after it) and a residual Z.
  for (const char* act : {"Relu", "Silu", "Gelu", "Sigmoid"})
    for (bool residual : {false, true}) {
      Attrs a = conv_attrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 1);
      a.set("activation", std::string(act));
      std::vector<Tensor> in{random_f32({1, 64, 30, 28}), random_f32({64, 64, 3, 3}), random_f32({64})};
      if (residual) in.push_back(random_f32({1, 64, 30, 28}));
      check(OpKind::kFusedConv, in, a, std::string("winograd FusedConv ") + act + (residual ? " +Z" : ""), {1, 2}, 1,
            "onednn_conv", false, nullptr, 2e-5);
    }
}

TEST(CpuOnednnConv, OneAndThreeDimensionalAndAutoPad) {
  check(OpKind::kConv, {random_f32({2, 4, 23}), random_f32({6, 4, 5}), random_f32({6})},
        conv_attrs({2, 1}, {2}, {2}, 1), "conv1d");
  check(OpKind::kConv, {random_f32({1, 3, 5, 6, 7}), random_f32({4, 3, 3, 2, 3})}, conv_attrs({1, 0, 1, 1, 1, 0}, {1, 2, 1}, {}, 1),
        "conv3d");
  for (const char* pad : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    Attrs a;
    a.set("auto_pad", std::string(pad));
    a.set("strides", Dims{2, 2});
    check(OpKind::kConv, {random_f32({1, 3, 10, 9}), random_f32({5, 3, 4, 3})}, a, std::string("auto_pad ") + pad);
  }
}

// 1-D convolutions run lifted to 2-D (H = 1); grouped convolutions with few channels per group run dense with
// block-diagonal weights (conv.cc). Both against the reference, incl. cropped dead taps and 1-D depthwise.
TEST(CpuOnednnConv, LiftedOneDimensionalAndDenseGrouped) {
  struct Case { Dims x, w; Dims pads, strides, dil; int64_t group; bool bias; };
  std::vector<Case> cases = {
      {{2, 16, 37}, {16, 1, 3}, {1, 1}, {1}, {1}, 16, true},                   // 1-D depthwise
      {{3, 24, 41}, {24, 1, 3}, {8, 8}, {1}, {8}, 24, false},                  // 1-D depthwise, dilation 8
      {{1, 12, 30}, {12, 1, 5}, {2, 1}, {2}, {1}, 12, true},                   // 1-D depthwise, stride 2, odd pads
      {{2, 8, 19}, {12, 2, 3}, {1, 1}, {1}, {2}, 4, true},                     // 1-D grouped, 2 in / 3 out per group
      {{2, 16, 9, 9}, {32, 4, 3, 3}, {1, 1, 1, 1}, {2, 2}, {1, 1}, 4, true},   // 2-D, 4 groups of 4 -> 8
      {{1, 6, 7, 8}, {10, 3, 3, 1}, {1, 0, 1, 0}, {1, 1}, {1, 1}, 2, false},   // 2-D, 2 groups, 5 out per group
      {{1, 24, 6, 6}, {24, 3, 3, 3}, {4, 4, 4, 4}, {1, 1}, {4, 4}, 8, true},   // 8 groups, atrous with dead taps
      {{2, 8, 5, 4, 6}, {8, 2, 3, 1, 3}, {1, 0, 1, 1, 0, 1}, {1, 1, 2}, {1, 1, 1}, 4, true},  // 3-D grouped
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::vector<Tensor> in{random_f32(c.x), random_f32(c.w), c.bias ? random_f32({c.w[0]}) : Tensor()};
    check(OpKind::kConv, in, conv_attrs(c.pads, c.strides, c.dil, c.group), "lifted/dense case " + std::to_string(i),
          {1, 2}, 1, "onednn_conv");
    check(OpKind::kConv, in, conv_attrs(c.pads, c.strides, c.dil, c.group), "lifted/dense 2 threads case " + std::to_string(i),
          {1, 2}, 2);
  }
}

TEST(CpuOnednnConv, FusedActivationsAndResidual) {
  const char* acts[] = {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Silu", "Gelu", "GeluTanh", "HardSigmoid", "HardSwish"};
  for (const char* act : acts) {
    for (bool residual : {false, true}) {
      Attrs a = conv_attrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 1);
      if (*act) a.set("activation", std::string(act));
      if (std::string(act) == "Clip") {
        a.set("activation_alpha", -0.5f);
        a.set("activation_beta", 0.7f);
      }
      if (std::string(act) == "LeakyRelu") a.set("activation_alpha", 0.2f);
      std::vector<Tensor> in{random_f32({2, 3, 6, 5}), random_f32({4, 3, 3, 3}), random_f32({4})};
      if (residual) in.push_back(random_f32({2, 4, 6, 5}));
      check(OpKind::kFusedConv, in, a, std::string("FusedConv ") + act + (residual ? " +Z" : ""));
    }
  }
}

TEST(CpuOnednnMatMul, ShapesAndBroadcasting) {
  struct Case { Dims a, b; };
  std::vector<Case> cases = {{{3, 5}, {5, 7}},       {{1, 1}, {1, 1}},       {{2, 3, 4}, {4, 5}},
                             {{4}, {4, 6}},          {{2, 7, 4}, {4}},       {{5}, {5}},
                             {{2, 1, 3, 4}, {5, 4, 2}}, {{1, 13, 17}, {3, 17, 11}}, {{7, 1, 8}, {8, 33}},
                             {{2, 3, 5, 4}, {4, 9}}};
  for (size_t i = 0; i < cases.size(); ++i)
    check(OpKind::kMatMul, {random_f32(cases[i].a), random_f32(cases[i].b)}, {}, "matmul case " + std::to_string(i));
}

TEST(CpuOnednnMatMul, GemmVariants) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (Dims cd : {Dims{}, Dims{7}, Dims{1, 7}, Dims{5, 7}, Dims{5, 1}}) {
        Attrs a;
        a.set("transA", int64_t{ta});
        a.set("transB", int64_t{tb});
        a.set("alpha", 0.5f);
        a.set("beta", cd.size() == 2 && cd[0] == 5 && cd[1] == 7 ? 2.f : 1.f);
        std::vector<Tensor> in{random_f32(ta ? Dims{3, 5} : Dims{5, 3}), random_f32(tb ? Dims{7, 3} : Dims{3, 7})};
        in.push_back(cd.empty() ? Tensor() : random_f32(cd));
        check(OpKind::kGemm, in, a, "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " C=" + dims_to_string(cd));
      }
}

TEST(CpuOnednnMatMul, FusedMatMul) {
  for (const char* act : {"", "Relu", "Gelu", "Sigmoid"}) {
    Attrs a;
    a.set("transB", int64_t{1});
    a.set("alpha", 1.f);
    if (*act) a.set("activation", std::string(act));
    check(OpKind::kFusedMatMul, {random_f32({2, 4, 6}), random_f32({5, 6}), random_f32({5}), random_f32({2, 4, 5})}, a,
          std::string("FusedMatMul bias+Z ") + act);
    a.set("transB", int64_t{0});
    check(OpKind::kFusedMatMul, {random_f32({5, 1, 6}), random_f32({6, 7}), random_f32({7}), random_f32({7})}, a,
          std::string("FusedMatMul folded rows, row Z ") + act);
    a.set("transB", int64_t{1});
    a.set("alpha", 0.25f);
    check(OpKind::kFusedMatMul, {random_f32({3, 6}), random_f32({5, 6}), random_f32({5}), random_f32({1, 5})}, a,
          std::string("FusedMatMul alpha, broadcast Z ") + act);
    // 5-D runtime operands, B transposed, a bias-like Z broadcast over the leading batch dims (MaxViT's scores
    // plus relative-position bias): oneDNN would take its reference kernel with Z as a post-op, so Z and the
    // activation run after the product.
    a.set("alpha", 1.f);
    check(OpKind::kFusedMatMul,
          {random_f32({1, 3, 2, 5, 4}), random_f32({1, 3, 2, 7, 4}), Tensor(), random_f32({2, 5, 7})}, a,
          std::string("FusedMatMul 5-D transB, batch-broadcast Z ") + act, {});
  }
}

TEST(CpuOnednnPool, MaxAverageGlobal) {
  for (int ceil = 0; ceil < 2; ++ceil)
    for (OpKind op : {OpKind::kMaxPool, OpKind::kAveragePool}) {
      Attrs a;
      a.set("kernel_shape", Dims{3, 2});
      a.set("strides", Dims{2, 2});
      a.set("pads", Dims{1, 0, 1, 1});
      a.set("ceil_mode", int64_t{ceil});
      check(op, {random_f32({2, 3, 9, 8})}, a, std::string(op_name(op)) + " ceil=" + std::to_string(ceil), {});
    }
  Attrs inc;
  inc.set("kernel_shape", Dims{3});
  inc.set("pads", Dims{1, 1});
  inc.set("count_include_pad", int64_t{1});
  check(OpKind::kAveragePool, {random_f32({1, 2, 7})}, inc, "avgpool1d include pad", {});
  Attrs dil;
  dil.set("kernel_shape", Dims{2, 2, 2});
  dil.set("dilations", Dims{2, 1, 2});
  check(OpKind::kMaxPool, {random_f32({1, 2, 5, 4, 6})}, dil, "maxpool3d dilated", {});
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool}) {
    check(op, {random_f32({2, 5, 7, 3})}, {}, op_name(op), {});
    check(op, {random_f32({1, 1, 1})}, {}, std::string(op_name(op)) + " size 1", {});
    // Plain X run by hand (kernels/global_pool.h): rows longer than the 16 lanes, rows shorter, 2 threads.
    check(op, {random_f32({3, 7, 41, 29})}, {}, std::string(op_name(op)) + " long rows", {}, 2);
    check(op, {random_f32({2, 3, 5})}, {}, std::string(op_name(op)) + " short rows", {}, 2);
  }
}

// --precision bf16: convolutions and matmuls in bfloat16 where the CPU has native bf16 dot products (elsewhere the
// same float32 kernels run), within bf16's budget of the reference.
TEST(CpuOnednnBf16, ConvAndMatMulWithinBudget) {
  rng().seed(5);
  const std::vector<Tensor> conv_in{random_f32({2, 16, 12, 12}), random_f32({24, 16, 3, 3}), random_f32({24})};
  Tensor y32, y16;
  check(OpKind::kConv, conv_in, conv_attrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 1), "conv 3x3", {1, 2}, 1, "", false, &y32);
  check(OpKind::kConv, conv_in, conv_attrs({1, 1, 1, 1}, {1, 1}, {1, 1}, 1), "conv 3x3", {1, 2}, 1, "", true, &y16);
  // Where the CPU has native bf16 (AVX512-BF16, AMX) the bf16 run must really round: its answer differs.
  Node n0;
  TestCpuContext probe(n0, {}, 1);
  probe.set_allow_bf16(true);
  if (onednn::use_bf16(probe))
    EXPECT_NE(std::memcmp(y32.raw(), y16.raw(), y32.nbytes()), 0) << "bf16 allowed but the float32 path ran";
  check(OpKind::kConv, {random_f32({1, 32, 9, 9}), random_f32({32, 1, 3, 3})}, conv_attrs({1, 1, 1, 1}, {2, 2}, {}, 32),
        "depthwise", {1}, 2, "", true);
  check(OpKind::kConv, {random_f32({2, 8, 30}), random_f32({12, 8, 5})}, conv_attrs({2, 2}, {1}, {}, 1), "conv 1-D",
        {1}, 1, "", true);
  check(OpKind::kMatMul, {random_f32({3, 37, 64}), random_f32({64, 48})}, Attrs(), "matmul, constant B", {1}, 1, "",
        true);
  check(OpKind::kMatMul, {random_f32({2, 4, 16, 32}), random_f32({2, 4, 32, 16})}, Attrs(), "batched, variable B", {},
        2, "", true);
  Attrs g;
  g.set("transA", int64_t{1});
  g.set("transB", int64_t{1});
  g.set("alpha", 0.5f);
  check(OpKind::kGemm, {random_f32({40, 8}), random_f32({24, 40}), random_f32({24})}, g, "gemm transposed", {1, 2}, 1,
        "", true);
}

}  // namespace
}  // namespace kiln::cpu::test

namespace kiln::cpu::test {
namespace {

TEST(CpuOnednnConvTranspose, Shapes) {
  struct Case { Dims x, w; Dims pads, strides, dil, opad; int64_t group; bool bias; };
  std::vector<Case> cases = {
      {{1, 3, 5, 5}, {3, 4, 3, 3}, {1, 1, 1, 1}, {2, 2}, {1, 1}, {1, 1}, 1, true},
      {{2, 4, 7, 3}, {4, 2, 2, 3}, {0, 1, 1, 0}, {1, 2}, {2, 1}, {0, 0}, 2, false},
      {{1, 6, 4}, {6, 1, 4}, {1, 2}, {2}, {1}, {0}, 6, true},                      // depthwise 1-D
      {{1, 2, 3, 4, 2}, {2, 3, 2, 2, 2}, {0, 0, 0, 0, 0, 0}, {2, 1, 2}, {1, 1, 1}, {1, 0, 0}, 1, true},
      {{3, 16, 8, 8}, {16, 4, 3, 3}, {1, 1, 1, 1}, {2, 2}, {1, 1}, {1, 1}, 2, true},   // dense: 2 groups, 8 in / 4 out
      {{1, 12, 5, 6}, {12, 3, 2, 3}, {0, 1, 0, 1}, {1, 2}, {1, 1}, {0, 1}, 4, false},  // dense: 4 groups, 3 in / 3 out
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Attrs a;
    a.set("pads", c.pads);
    a.set("strides", c.strides);
    a.set("dilations", c.dil);
    a.set("output_padding", c.opad);
    a.set("group", c.group);
    std::vector<Tensor> in{random_f32(c.x), random_f32(c.w), c.bias ? random_f32({c.w[1] * c.group}) : Tensor()};
    check(OpKind::kConvTranspose, in, a, "convtranspose case " + std::to_string(i), {1, 2}, 1, "onednn_deconv");
  }
}

// SAME auto_pad and output_shape (the total padding split by ir/window_params.h) on oneDNN, against the reference.
TEST(CpuOnednnConvTranspose, AutoPadAndOutputShape) {
  struct Case { Dims x, w, strides, dil, opad; std::string auto_pad; Dims output_shape; int64_t group; };
  std::vector<Case> cases = {
      {{1, 3, 5, 5}, {3, 4, 3, 3}, {2, 2}, {1, 1}, {0, 0}, "SAME_UPPER", {}, 1},
      {{1, 3, 5, 6}, {3, 2, 4, 3}, {2, 3}, {1, 1}, {0, 0}, "SAME_LOWER", {}, 1},
      {{2, 4, 7, 3}, {4, 2, 2, 3}, {1, 2}, {2, 1}, {0, 0}, "NOTSET", {9, 6}, 2},
      {{1, 2, 4}, {2, 3, 3}, {2}, {1}, {1}, "NOTSET", {1, 3, 8}, 1},  // output_shape in its full N, C, W form
      {{1, 2, 3, 3}, {2, 2, 3, 3}, {2, 2}, {1, 1}, {0, 0}, "VALID", {}, 1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Attrs a;
    a.set("strides", c.strides);
    a.set("dilations", c.dil);
    a.set("output_padding", c.opad);
    a.set("auto_pad", c.auto_pad);
    a.set("pads", Dims(2 * c.strides.size(), 1));  // ignored under SAME, VALID and output_shape
    if (!c.output_shape.empty()) a.set("output_shape", c.output_shape);
    a.set("group", c.group);
    std::vector<Tensor> in{random_f32(c.x), random_f32(c.w), random_f32({c.w[1] * c.group})};
    check(OpKind::kConvTranspose, in, a, "convtranspose auto_pad/output_shape case " + std::to_string(i), {1, 2}, 1,
          "onednn_deconv");
  }
}

}  // namespace
}  // namespace kiln::cpu::test
