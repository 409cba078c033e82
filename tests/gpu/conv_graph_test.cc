// Every cuDNN graph-API conv tactic (fused bias / residual / ReLU, NHWC and NCHW, pre/post pads) against the
// reference backend, each forced through the KILN_CUDA_CONV_TACTIC test hook.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/kernel.h"
#endif

namespace kiln::testing {
namespace {

struct GraphCase {
  std::string what;
  DType dtype = DType::kFloat16;
  bool fused = true;  // FusedConv (with layout / activation / Z) or plain Conv
  bool nhwc = true;
  Dims x_nchw;
  int64_t m = 16;
  Dims kernel, strides, pads;
  int64_t group = 1;
  bool bias = true, z = false;
  std::string act;               // FusedConv activation ("" = none)
  bool expect_graph = false;     // the graph API must offer at least one plan (checked on the GPU)
  std::optional<Tolerance> tol;  // default: by dtype
};

Dims to_nhwc(const Dims& nchw) {
  Dims d{nchw[0]};
  d.insert(d.end(), nchw.begin() + 2, nchw.end());
  d.push_back(nchw[1]);
  return d;
}

Dims out_nchw(const GraphCase& c) {
  Dims y{c.x_nchw[0], c.m};
  const size_t nd = c.kernel.size();
  for (size_t i = 0; i < nd; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i];
    const int64_t p = c.pads.empty() ? 0 : c.pads[i] + c.pads[nd + i];
    y.push_back((c.x_nchw[2 + i] + p - c.kernel[i]) / s + 1);
  }
  return y;
}

struct GraphRun {
  Node node;
  std::vector<Tensor> inputs;
  std::vector<size_t> constants;
  Tolerance tol;
};

GraphRun make_run(const GraphCase& c, uint64_t seed) {
  GraphRun r;
  Attrs a;
  a.set("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.pads.empty()) a.set("pads", c.pads);
  a.set("group", c.group);
  const bool nhwc = c.fused && c.nhwc;
  if (c.fused) {
    if (nhwc) a.set("layout", std::string("NHWC"));
    if (!c.act.empty()) a.set("activation", c.act);
    if (c.act == "LeakyRelu") a.set("activation_alpha", 0.2f);
  }
  const int64_t cg = c.x_nchw[1] / c.group;
  Dims w{c.m};
  if (!nhwc) w.push_back(cg);
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  if (nhwc) w.push_back(cg);
  r.inputs = {random_tensor(c.dtype, nhwc ? to_nhwc(c.x_nchw) : c.x_nchw, seed), random_tensor(c.dtype, w, seed + 1),
              c.bias ? random_tensor(c.dtype, {c.m}, seed + 2) : Tensor()};
  if (c.fused && c.z) r.inputs.push_back(random_tensor(c.dtype, nhwc ? to_nhwc(out_nchw(c)) : out_nchw(c), seed + 3));
  r.node = make_test_node(c.fused ? OpKind::kFusedConv : OpKind::kConv, r.inputs.size(), 1, a);
  if (!c.bias) r.node.inputs[2] = "";
  r.constants = {1};
  if (c.bias) r.constants.push_back(2);
  if (c.tol) {
    r.tol = *c.tol;
    return r;
  }
  r.tol = c.dtype == DType::kFloat16    ? Tolerance{1e-2, 1e-2}
          : c.dtype == DType::kBFloat16 ? Tolerance{3e-2, 3e-2}
                                        : Tolerance{1e-4, 1e-4};
  return r;
}

// The node's published tactic names (graph plans first, then legacy algorithms), after a build tuned it.
std::vector<std::string> conv_tactic_names(const Node& node) {
  std::vector<std::string> names;
#ifdef KILN_HAVE_CUDA
  const cuda::CudaKernel* k = cuda::cuda_kernels().find(node.op);
  for (int64_t t = 0; k && k->tactic_name && t < 256; ++t) {
    std::string n = k->tactic_name(node, t);
    if (n.rfind("cuDNN conv tactic #", 0) == 0) break;  // past the published list
    names.push_back(n);
  }
#endif
  return names;
}

struct TacticEnv {
  explicit TacticEnv(int64_t t) { setenv("KILN_CUDA_CONV_TACTIC", std::to_string(t).c_str(), 1); }
  ~TacticEnv() { unsetenv("KILN_CUDA_CONV_TACTIC"); }
};

// Builds once (publishing the tactic list), then runs every graph tactic and the first legacy one.
void check_every_graph_tactic(const GraphCase& c, uint64_t seed) {
  SCOPED_TRACE(c.what);
  const GraphRun r = make_run(c, seed);
  expect_cuda_matches_reference(r.node, r.inputs, r.constants, &r.tol);
  const std::vector<std::string> names = conv_tactic_names(r.node);
  ASSERT_FALSE(names.empty()) << "no tactic names published";
  int own = 0;  // Kiln's own kernels come first (conv.cc)
  while (own < static_cast<int>(names.size()) && names[own].rfind("Kiln ", 0) == 0) ++own;
  int graph = own;
  while (graph < static_cast<int>(names.size()) && names[graph].rfind("cuDNN graph engine", 0) == 0) ++graph;
  std::cout << "[ conv   ] " << c.what << ": " << own << " own kernels, " << graph - own << " graph plans, "
            << names.size() - graph << " legacy algorithms; tactic 0 = " << names[0] << "\n";
  if (c.expect_graph) EXPECT_GT(graph, own) << "the graph API offered no plan";
  for (int t = 0; t <= graph && t < static_cast<int>(names.size()); ++t) {
    SCOPED_TRACE("tactic " + std::to_string(t) + ": " + names[t]);
    TacticEnv env(t);
    expect_cuda_matches_reference(r.node, r.inputs, r.constants, &r.tol);
  }
}

TEST(GpuConvGraph, Nhwc3x3BiasResidualRelu) {
  KILN_REQUIRE_GPU();
  GraphCase c{"NHWC fp16 3x3 s1 bias+Z+Relu"};
  c.x_nchw = {2, 32, 14, 14};
  c.m = 64;
  c.kernel = {3, 3};
  c.pads = {1, 1, 1, 1};
  c.z = true;
  c.act = "Relu";
  c.expect_graph = true;
  check_every_graph_tactic(c, 3000);
}

TEST(GpuConvGraph, Nhwc1x1Stride2BiasRelu) {
  KILN_REQUIRE_GPU();
  GraphCase c{"NHWC fp16 1x1 s2 bias+Relu"};
  c.x_nchw = {2, 64, 14, 14};
  c.m = 128;
  c.kernel = {1, 1};
  c.strides = {2, 2};
  c.act = "Relu";
  c.expect_graph = true;
  check_every_graph_tactic(c, 3010);
}

TEST(GpuConvGraph, Nhwc7x7Stride2AsymmetricPads) {
  KILN_REQUIRE_GPU();
  GraphCase c{"NHWC fp16 7x7 s2 pads (2,3)/(3,2) bias+Relu"};
  c.x_nchw = {1, 8, 32, 30};
  c.m = 16;
  c.kernel = {7, 7};
  c.strides = {2, 2};
  c.pads = {2, 3, 3, 2};
  c.act = "Relu";
  check_every_graph_tactic(c, 3020);
  GraphCase stem = c;  // ResNet's stem: 3 input channels
  stem.what = "NHWC fp16 7x7 s2 C=3 pads 3 bias+Relu";
  stem.x_nchw = {1, 3, 32, 32};
  stem.pads = {3, 3, 3, 3};
  check_every_graph_tactic(stem, 3030);
}

TEST(GpuConvGraph, GroupedAndDepthwise) {
  KILN_REQUIRE_GPU();
  GraphCase c{"NHWC fp16 3x3 group 4 bias+Z"};
  c.x_nchw = {2, 32, 10, 10};
  c.m = 64;
  c.kernel = {3, 3};
  c.pads = {1, 1, 1, 1};
  c.group = 4;
  c.z = true;
  check_every_graph_tactic(c, 3040);
  GraphCase dw = c;
  dw.what = "NHWC fp16 3x3 depthwise bias+Relu";
  dw.m = 32;
  dw.group = 32;
  dw.z = false;
  dw.act = "Relu";
  check_every_graph_tactic(dw, 3050);
}

TEST(GpuConvGraph, Bf16AndFloat32) {
  KILN_REQUIRE_GPU();
  GraphCase bf{"NHWC bf16 3x3 bias+Z+Relu"};
  bf.dtype = DType::kBFloat16;
  bf.x_nchw = {2, 16, 12, 12};
  bf.m = 32;
  bf.kernel = {3, 3};
  bf.pads = {1, 1, 1, 1};
  bf.z = true;
  bf.act = "Relu";
  bf.expect_graph = true;
  check_every_graph_tactic(bf, 3060);
  GraphCase f32 = bf;  // float32 engine: TF32 off, so only exact-float32 engines are offered
  f32.what = "NCHW fp32 3x3 bias+Z+Relu";
  f32.dtype = DType::kFloat32;
  f32.nhwc = false;
  f32.expect_graph = false;
  check_every_graph_tactic(f32, 3070);
}

TEST(GpuConvGraph, Float32WithTf32) {
  KILN_REQUIRE_GPU();
  struct PrecisionGuard {
    PrecisionGuard() { cuda_test_precision = "tf32"; }
    ~PrecisionGuard() { cuda_test_precision = "fp32"; }
  } guard;
  GraphCase c{"NHWC fp32 (TF32 engine) 3x3 bias+Z+Relu"};
  c.dtype = DType::kFloat32;
  c.x_nchw = {2, 16, 12, 12};
  c.m = 32;
  c.kernel = {3, 3};
  c.pads = {1, 1, 1, 1};
  c.z = true;
  c.act = "Relu";
  c.expect_graph = true;
  c.tol = Tolerance{1e-2, 1e-2};  // TF32 keeps 10 mantissa bits of the inputs
  check_every_graph_tactic(c, 3110);
}

TEST(GpuConvGraph, UnfusedActivationAndPlainConv) {
  KILN_REQUIRE_GPU();
  GraphCase leaky{"NHWC fp16 3x3 bias+Z then LeakyRelu epilogue"};
  leaky.x_nchw = {1, 16, 9, 9};
  leaky.m = 24;
  leaky.kernel = {3, 3};
  leaky.pads = {1, 1, 1, 1};
  leaky.z = true;
  leaky.act = "LeakyRelu";
  check_every_graph_tactic(leaky, 3080);
  GraphCase conv{"Conv NCHW fp16 3x3 s2 bias"};
  conv.fused = false;
  conv.nhwc = false;
  conv.x_nchw = {2, 16, 15, 15};
  conv.m = 32;
  conv.kernel = {3, 3};
  conv.strides = {2, 2};
  conv.pads = {1, 1, 1, 1};
  check_every_graph_tactic(conv, 3090);
  GraphCase three_d{"Conv NCHW fp16 3-D 3x3x3"};
  three_d.fused = false;
  three_d.nhwc = false;
  three_d.x_nchw = {1, 8, 6, 7, 8};
  three_d.m = 16;
  three_d.kernel = {3, 3, 3};
  three_d.pads = {1, 1, 1, 1, 1, 1};
  check_every_graph_tactic(three_d, 3100);
}

}  // namespace
}  // namespace kiln::testing
