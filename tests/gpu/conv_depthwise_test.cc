// Kiln's own channels-last depthwise convolution (tactic 0 of Conv/FusedConv, src/backends/cuda/conv/depthwise.cu)
// against the reference backend: kernel sizes 3..7 and 1-D, strides, dilations, asymmetric pads, bias / Z /
// activations fused, float32 / float16 / bfloat16, channel counts with and without 8-wide vectors, large kernels.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/kernel.h"
#endif

namespace kiln::testing {
namespace {

struct DwCase {
  std::string what;
  Dims x;  // N, spatial..., C (channels-last)
  Dims kernel, strides, pads, dilations;
  bool bias = true, z = false;
  std::string act;
};

Dims out_dims(const DwCase& c) {
  const size_t nd = c.kernel.size();
  Dims y{c.x[0]};
  for (size_t i = 0; i < nd; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i], d = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t pb = c.pads.empty() ? 0 : c.pads[i], pe = c.pads.empty() ? 0 : c.pads[nd + i];
    y.push_back((c.x[1 + i] + pb + pe - ((c.kernel[i] - 1) * d + 1)) / s + 1);
  }
  y.push_back(c.x.back());
  return y;
}

// Tactic 0 with Kiln's own kernels on (KILN_CUDA_OWN_KERNELS, conv_common.h): the depthwise kernel.
struct TacticZero {
  TacticZero() {
    setenv("KILN_CUDA_CONV_TACTIC", "0", 1);
    setenv("KILN_CUDA_OWN_KERNELS", "1", 1);
  }
  ~TacticZero() {
    unsetenv("KILN_CUDA_CONV_TACTIC");
    unsetenv("KILN_CUDA_OWN_KERNELS");
  }
};

void check_depthwise(const DwCase& c, DType t, uint64_t seed) {
  SCOPED_TRACE(c.what + " X " + dims_to_string(c.x) + " " + dtype_name(t));
  const int64_t ch = c.x.back();
  Attrs a;
  a.set("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.pads.empty()) a.set("pads", c.pads);
  if (!c.dilations.empty()) a.set("dilations", c.dilations);
  a.set("group", ch);
  a.set("layout", std::string("NHWC"));
  if (!c.act.empty()) a.set("activation", c.act);
  if (c.act == "LeakyRelu") a.set("activation_alpha", 0.1f);
  if (c.act == "Clip") {
    a.set("activation_alpha", 0.f);
    a.set("activation_beta", 6.f);
  }
  Dims w{ch};
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  w.push_back(1);
  std::vector<Tensor> inputs{random_tensor(t, c.x, seed), random_tensor(t, w, seed + 1),
                             c.bias ? random_tensor(t, {ch}, seed + 2) : Tensor()};
  if (c.z) inputs.push_back(random_tensor(t, out_dims(c), seed + 3));
  Node node = make_test_node(OpKind::kFusedConv, inputs.size(), 1, a);
  if (!c.bias) node.inputs[2] = "";
  std::vector<size_t> constants{1};
  if (c.bias) constants.push_back(2);
  const Tolerance tol = t == DType::kFloat16    ? Tolerance{1e-2, 1e-2}
                        : t == DType::kBFloat16 ? Tolerance{3e-2, 3e-2}
                                                : Tolerance{1e-4, 1e-4};
  TacticZero forced;
  expect_cuda_matches_reference(node, inputs, constants, &tol);
#ifdef KILN_HAVE_CUDA
  const cuda::CudaKernel* k = cuda::cuda_kernels().find(OpKind::kFusedConv);
  ASSERT_TRUE(k && k->tactic_name);
  EXPECT_EQ(k->tactic_name(node, 0).rfind("Kiln depthwise", 0), 0u) << k->tactic_name(node, 0);
#endif
}

TEST(GpuConvDepthwise, KernelSizesStridesPads) {
  KILN_REQUIRE_GPU();
  const std::vector<DwCase> cases{
      {"3x3 s1 p1 relu", {2, 14, 14, 32}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, true, false, "Relu"},
      {"3x3 s2 p1 hardswish", {2, 15, 15, 48}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true, false, "HardSwish"},
      {"5x5 s2 p2 silu", {1, 28, 28, 40}, {5, 5}, {2, 2}, {2, 2, 2, 2}, {}, true, false, "Silu"},
      {"7x7 s1 p3 (ConvNeXt) no act", {2, 14, 14, 96}, {7, 7}, {1, 1}, {3, 3, 3, 3}, {}, true, false, ""},
      {"3x3 asymmetric pads (0,1)/(1,0) clip", {1, 9, 10, 16}, {3, 3}, {2, 2}, {0, 1, 1, 0}, {}, true, false, "Clip"},
      {"3x3 dilation 2 gelu", {1, 12, 12, 24}, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, true, false, "Gelu"},
      {"3x3 bias + Z + relu", {2, 8, 8, 64}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, true, true, "Relu"},
      {"3x3 no bias, C=12 (no 8-wide vectors)", {2, 9, 9, 12}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, false, false, ""},
      {"C=3 leaky", {1, 6, 7, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, true, false, "LeakyRelu"},
      {"1-D k=5 s1", {2, 40, 16}, {5}, {1}, {2, 2}, {}, true, false, "Silu"},
      {"1-D k=31 (conformer)", {1, 64, 24}, {31}, {1}, {15, 15}, {}, true, false, ""},
      {"13x13 large kernel", {1, 20, 20, 16}, {13, 13}, {1, 1}, {6, 6, 6, 6}, {}, true, false, "Relu"},
  };
  uint64_t seed = 7100;
  for (const DwCase& c : cases)
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) check_depthwise(c, t, seed += 4);
}

}  // namespace
}  // namespace kiln::testing
