// CUDA FusedMatMul (cuBLASLt epilogues + the epilogue kernel) against the reference backend.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {1e-4, 1e-4};
}

const char* kActivations[] = {"",     "Relu", "LeakyRelu", "Sigmoid",     "Tanh",     "Clip",
                              "Silu", "Gelu", "GeluTanh",  "HardSigmoid", "HardSwish"};

struct FusedCase {
  Dims a, b;
  bool bias = false;
  const Dims* z = nullptr;
  std::string act;
  bool ta = false, tb = false;
  float alpha = 1.f;
  DType t = DType::kFloat32;
};

void check_fused(const FusedCase& c, uint64_t seed) {
  Attrs attrs;
  if (!c.act.empty()) attrs.set("activation", c.act);
  if (c.act == "LeakyRelu") attrs.set("activation_alpha", 0.1f);
  if (c.act == "Clip") {
    attrs.set("activation_alpha", -0.5f);
    attrs.set("activation_beta", 0.75f);
  }
  if (c.act == "HardSigmoid") {
    attrs.set("activation_alpha", 0.3f);
    attrs.set("activation_beta", 0.4f);
  }
  attrs.set("transA", int64_t{c.ta});
  attrs.set("transB", int64_t{c.tb});
  attrs.set("alpha", c.alpha);
  SCOPED_TRACE("FusedMatMul A " + dims_to_string(c.a) + " B " + dims_to_string(c.b) + " act '" + c.act + "' bias=" +
               std::to_string(c.bias) + " Z=" + (c.z ? dims_to_string(*c.z) : "none") + " " + dtype_name(c.t));
  const int64_t n = c.tb ? c.b[c.b.size() - 2] : c.b.back();
  std::vector<Tensor> in{random_tensor(c.t, c.a, seed), random_tensor(c.t, c.b, seed + 1)};
  in.push_back(c.bias ? random_tensor(c.t, {n}, seed + 2) : Tensor());
  size_t num_in = 3;
  if (c.z) {
    in.push_back(random_tensor(c.t, *c.z, seed + 3));
    num_in = 4;
  }
  in.resize(num_in);
  Node node = make_test_node(OpKind::kFusedMatMul, num_in, 1, attrs);
  if (!c.bias) node.inputs[2] = "";
  const Tolerance tol = tol_for(c.t);
  std::vector<size_t> constants{1};
  if (c.bias) constants.push_back(2);
  expect_cuda_matches_reference(node, in, constants, &tol);
}

TEST(GpuFusedMatMul, EachActivationWithBias) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const char* act : kActivations) {
    check_fused({{33, 64}, {64, 65}, true, nullptr, act}, seed++);
    check_fused({{33, 64}, {64, 65}, false, nullptr, act}, seed++);
  }
}

TEST(GpuFusedMatMul, ResidualFullAndBroadcast) {
  KILN_REQUIRE_GPU();
  const Dims full{4, 7, 65}, row{65}, col{7, 1}, batch_one{1, 7, 65};
  uint64_t seed = 200;
  for (const char* act : {"", "Relu", "GeluTanh", "Gelu", "Sigmoid"}) {
    for (const Dims* z : {&full, &row, &col, &batch_one}) {
      check_fused({{4, 7, 32}, {32, 65}, true, z, act}, seed++);
      check_fused({{4, 7, 32}, {4, 32, 65}, false, z, act}, seed++);
    }
  }
}

TEST(GpuFusedMatMul, TransposesAndAlpha) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 300;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      FusedCase c{
          ta ? Dims{3, 16, 7} : Dims{3, 7, 16}, tb ? Dims{65, 16} : Dims{16, 65}, true, nullptr, "Relu", ta, tb, 0.5f};
      check_fused(c, seed++);
      c.act = "Silu";
      check_fused(c, seed++);
      // Both operands batched (attention's Q K^T and P^T V with the transposes folded into the product).
      FusedCase batched{ta ? Dims{3, 16, 7} : Dims{3, 7, 16}, tb ? Dims{3, 65, 16} : Dims{3, 16, 65}, false, nullptr, "",
                        ta, tb, 1.f};
      check_fused(batched, seed++);
    }
}

TEST(GpuFusedMatMul, EachDtype) {
  KILN_REQUIRE_GPU();
  const Dims z{2, 9, 128};
  uint64_t seed = 400;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (const char* act : {"", "Relu", "GeluTanh", "Gelu", "HardSwish"}) {
      FusedCase c{{2, 9, 64}, {64, 128}, true, &z, act};
      c.t = t;
      check_fused(c, seed++);
      c.z = nullptr;
      check_fused(c, seed++);
    }
}

}  // namespace
}  // namespace kiln::testing
