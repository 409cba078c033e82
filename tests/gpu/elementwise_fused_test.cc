// GPU tests of FusedElementwise against the reference backend: programs with constants, step references,
// parameterised ops, broadcast inputs and mixed float dtypes.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

void check_fused(const std::vector<std::string>& program, const std::vector<Tensor>& inputs,
                 const std::vector<size_t>& constants = {}) {
  std::string trace;
  for (const auto& s : program) trace += s + "; ";
  SCOPED_TRACE(trace + std::string(dtype_name(inputs[0].dtype())) + " " + dims_to_string(inputs[0].dims()));
  Attrs a;
  a.set("program", program);
  Node n = make_test_node(OpKind::kFusedElementwise, inputs.size(), 1, a);
  expect_cuda_matches_reference(n, inputs, constants);
}

TEST(CudaElementwiseFused, SingleInputProgramsAllDtypes) {
  KILN_REQUIRE_GPU();
  const std::vector<std::vector<std::string>> programs = {
      {"Mul i0 #0.5", "Add s0 #1.25"},
      {"Sigmoid i0", "Mul i0 s0"},
      {"GeluTanh i0"},
      {"Gelu i0", "Neg s0", "Abs s1"},
      {"Mul i0 i0", "Mul s0 i0", "Mul s1 #0.044715", "Add i0 s2", "Mul s3 #0.7978846", "Tanh s4", "Add s5 #1",
       "Mul s6 #0.5", "Mul i0 s7"},
      {"LeakyRelu i0 #0.1", "Clip s0 #-0.5 #0.75"},
      {"Exp i0", "Log s0", "Sqrt s0", "Reciprocal s2", "Max s1 s3", "Min s4 #2"},
      {"Relu i0", "Silu i0", "Sub s0 s1", "Erf s2", "Floor s3", "Ceil i0", "Add s4 s5"},
      {"Abs i0", "Add s0 #0.1", "Pow s1 #1.5", "Div s2 #3"},
  };
  uint64_t seed = 1;
  for (const auto& p : programs)
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
      for (const Dims& d : {Dims{1}, Dims{7}, Dims{1031}, Dims{2, 3, 4, 5}, Dims{1, 2, 3, 4, 5}})
        check_fused(p, {random_tensor(dt, d, ++seed, -3, 3)});
}

TEST(CudaElementwiseFused, BroadcastInputsAndConstantWeights) {
  KILN_REQUIRE_GPU();
  const std::vector<std::string> bias_gelu = {"Add i0 i1", "Gelu s0"};
  const std::vector<std::string> three = {"Mul i0 i1", "Add s0 i2", "Relu s1", "Sub s2 i2"};
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    check_fused(bias_gelu, {random_tensor(dt, {4, 33}, 1), random_tensor(dt, {33}, 2)});
    check_fused(bias_gelu, {random_tensor(dt, {4, 33}, 3), random_tensor(dt, {33}, 4)}, {1});
    check_fused(bias_gelu, {random_tensor(dt, {2, 3, 5, 7}, 5), random_tensor(dt, {3, 1, 1}, 6)});
    check_fused(three, {random_tensor(dt, {2, 1, 5}, 7), random_tensor(dt, {3, 1}, 8), random_tensor(dt, {}, 9)});
    check_fused(three, {random_tensor(dt, {1031}, 10), random_tensor(dt, {1031}, 11), random_tensor(dt, {1031}, 12)});
  }
  // Inputs of different float dtypes: the output takes input 0's.
  check_fused(three, {random_tensor(DType::kFloat16, {8, 16}, 13), random_tensor(DType::kFloat32, {16}, 14),
                      random_tensor(DType::kBFloat16, {8, 1}, 15)});
}

// Shapes whose innermost collapsed dim is a multiple of 4 take the kernel's 4-elements-per-thread path: inputs
// stepping by 1 (whole or suffix-broadcast, like BERT's position embeddings) and by 0 (broadcast along it).
TEST(CudaElementwiseFused, GroupedBroadcastPaths) {
  KILN_REQUIRE_GPU();
  const std::vector<std::string> three = {"Add i0 i1", "Add s0 i2"};
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    check_fused(three, {random_tensor(dt, {2, 128, 64}, 30), random_tensor(dt, {2, 128, 64}, 31),
                        random_tensor(dt, {1, 128, 64}, 32)});
    check_fused(three, {random_tensor(dt, {3, 5, 12}, 33), random_tensor(dt, {3, 5, 1}, 34),
                        random_tensor(dt, {12}, 35)});
    check_fused(three, {random_tensor(dt, {6, 4}, 36), random_tensor(dt, {6, 1}, 37), random_tensor(dt, {}, 38)});
  }
}

TEST(CudaElementwiseFused, ManyInputs) {
  KILN_REQUIRE_GPU();
  std::vector<std::string> p = {"Add i0 i1"};
  for (int k = 2; k < 8; ++k) p.push_back("Add s" + std::to_string(k - 2) + " i" + std::to_string(k));
  std::vector<Tensor> in;
  for (int k = 0; k < 8; ++k) in.push_back(random_tensor(DType::kFloat32, k % 2 ? Dims{33} : Dims{3, 33}, 20 + k));
  check_fused(p, in);
}

}  // namespace
}  // namespace kiln::testing
