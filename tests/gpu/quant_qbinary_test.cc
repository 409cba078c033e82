// GPU tests of QLinearAdd / QLinearMul (broadcast shapes, uint8/int8 mixes, saturation) and QLinearGlobalAveragePool
// against the reference backend (same-shape operands take the 16-elements-a-thread kernel): both follow the reference's arithmetic, so outputs must match exactly.
#include <gtest/gtest.h>

#include "tests/gpu/quant_test_util.h"

namespace kiln::testing {
namespace {

TEST(QuantQLinearBinary, AddAndMulWithBroadcast) {
  KILN_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{2, 8, 7, 7}, {2, 8, 7, 7}},  // residual Add: 16 elements a thread, then a tail of 8
      {{4, 9, 9, 64}, {4, 9, 9, 64}},  // channels-last residual, a multiple of 16
      {{2, 8, 7, 7}, {2, 8, 1, 1}},  // squeeze-excitation Mul
      {{1, 1000003}, {1}},           // odd size, scalar operand
      {{3, 1, 5}, {4, 1}},
  };
  uint64_t seed = 40;
  for (OpKind op : {OpKind::kQLinearAdd, OpKind::kQLinearMul})
    for (DType at : {DType::kUInt8, DType::kInt8})
      for (DType ct : {DType::kUInt8, DType::kInt8})
        for (const auto& [ad, bd] : shapes) {
          SCOPED_TRACE(std::string(op == OpKind::kQLinearAdd ? "QLinearAdd " : "QLinearMul ") + dims_to_string(ad) +
                       " " + dims_to_string(bd) + " a:" + dtype_name(at) + " c:" + dtype_name(ct));
          const DType bt = at == DType::kUInt8 ? DType::kInt8 : DType::kUInt8;  // mixed operand types
          Node node = make_test_node(op, 8, 1);
          const float cs = op == OpKind::kQLinearMul ? 0.002f : 0.03f;
          std::vector<Tensor> in{q_range(at, ad, seed),
                                 scalar_f32(0.021f),
                                 scalar_q(at, at == DType::kUInt8 ? 120 : -3),
                                 q_range(bt, bd, seed + 1),
                                 scalar_f32(0.017f),
                                 scalar_q(bt, bt == DType::kUInt8 ? 131 : 5),
                                 scalar_f32(cs),
                                 scalar_q(ct, ct == DType::kUInt8 ? 128 : 0)};
          seed += 10;
          expect_cuda_matches_reference(node, in, {1, 2, 4, 5, 6, 7}, &kQuantExact);
        }
}

TEST(QuantQLinearGlobalAveragePool, Nchw) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 90;
  for (DType t : {DType::kUInt8, DType::kInt8})
    for (const Dims& d : {Dims{1, 16, 7, 7}, Dims{3, 5, 4, 9}, Dims{2, 3, 11}, Dims{2, 64, 56, 56}}) {
      SCOPED_TRACE("QLinearGlobalAveragePool " + dims_to_string(d) + " " + dtype_name(t));
      Node node = make_test_node(OpKind::kQLinearGlobalAveragePool, 5, 1);
      std::vector<Tensor> in{q_range(t, d, seed++), scalar_f32(0.023f), scalar_q(t, t == DType::kInt8 ? -7 : 121),
                             scalar_f32(0.011f), scalar_q(t, t == DType::kInt8 ? 3 : 118)};
      expect_cuda_matches_reference(node, in, {1, 2, 3, 4}, &kQuantExact);
    }
}

}  // namespace
}  // namespace kiln::testing
