// Tests of the math family's matrix kernels: MatMul, Gemm, MatMulInteger, QLinearMatMul, Einsum, Det.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/reference/kernel.h"
#include "tests/ops/math_test_util.h"


TEST(MathMatMul, TwoByTwo) {
  auto r = run_op(OpKind::kMatMul, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {7, 8, 9, 10, 11, 12})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{2, 2}));
  expect_near_all(r->at(0), {58, 64, 139, 154});
}

TEST(MathMatMul, VectorOperandsAndBatchBroadcast) {
  // [3] x [2,3,1] -> [2,1]
  auto r = run_op(OpKind::kMatMul, {f32({3}, {1, 2, 3}), f32({2, 3, 1}, {1, 0, 0, 0, 1, 1})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{2, 1}));
  expect_near_all(r->at(0), {1, 5});
  // [1,2,2] x [3,1,2,1] -> [3,1,2,1]... batch dims [1] and [3,1] broadcast to [3,1]
  auto b = run_op(OpKind::kMatMul, {f32({1, 2, 2}, {1, 2, 3, 4}), f32({3, 1, 2, 1}, {1, 0, 0, 1, 1, 1})});
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->at(0).dims(), (Dims{3, 1, 2, 1}));
  expect_near_all(b->at(0), {1, 3, 2, 4, 3, 7});
  // 1-D x 1-D -> scalar
  auto s = run_op(OpKind::kMatMul, {f32({2}, {2, 3}), f32({2}, {4, 5})});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->at(0).rank(), 0u);
  expect_near_all(s->at(0), {23});
}

TEST(MathMatMul, IntegerAndErrors) {
  auto r = run_op(OpKind::kMatMul, {i32({1, 2}, {3, -4}), i32({2, 1}, {5, 6})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at(0).dtype(), DType::kInt32);
  EXPECT_EQ(r->at(0).data<int32_t>()[0], -9);
  EXPECT_FALSE(run_op(OpKind::kMatMul, {f32({2, 3}, {}), f32({2, 3}, {})}).ok());
  EXPECT_FALSE(run_op(OpKind::kMatMul, {f32({2, 2, 2}, {}), f32({3, 2, 2}, {})}).ok());
  EXPECT_FALSE(run_op(OpKind::kMatMul, {f32({2}, {}), i32({2}, {})}).ok());
}

TEST(MathGemm, TransposesAlphaBetaAndBias) {
  Attrs a;
  a.set("transA", int64_t{1});
  a.set("transB", int64_t{1});
  a.set("alpha", 2.0f);
  a.set("beta", 0.5f);
  // A^T = [[1,2],[3,4]] (A stored [[1,3],[2,4]]), B^T = [[1,0],[0,1]], C = [10, 20] broadcast over rows.
  auto r = run_op(OpKind::kGemm, {f32({2, 2}, {1, 3, 2, 4}), f32({2, 2}, {1, 0, 0, 1}), f32({2}, {10, 20})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  expect_near_all(r->at(0), {7, 14, 11, 18});
  auto nc = run_op(OpKind::kGemm, {f32({1, 2}, {1, 2}), f32({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor()});
  ASSERT_TRUE(nc.ok());
  EXPECT_EQ(nc->at(0).dims(), (Dims{1, 3}));
  expect_near_all(nc->at(0), {9, 12, 15});
  EXPECT_FALSE(run_op(OpKind::kGemm, {f32({1, 2}, {}), f32({2, 3}, {}), f32({2}, {})}).ok());
  EXPECT_FALSE(run_op(OpKind::kGemm, {f32({1, 2}, {}), f32({3, 3}, {})}).ok());
}

TEST(MathMatMulInteger, ZeroPoints) {
  Tensor a = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 2}, {12, 13});
  Tensor b = Tensor::from_vector<uint8_t>(DType::kUInt8, {2, 2}, {1, 2, 3, 4});
  Tensor azp = Tensor::scalar<uint8_t>(DType::kUInt8, 10);
  Tensor bzp = Tensor::from_vector<uint8_t>(DType::kUInt8, {2}, {1, 2});  // per column
  auto r = run_op(OpKind::kMatMulInteger, {a, b, azp, bzp});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dtype(), DType::kInt32);
  // (2,3) x [[0,0],[2,2]] = [6, 6]
  expect_near_all(r->at(0), {6, 6});
  EXPECT_FALSE(
      run_op(OpKind::kMatMulInteger, {a, b, Tensor::from_vector<uint8_t>(DType::kUInt8, {3}, {1, 1, 1})}).ok());
}

TEST(MathQLinearMatMul, RequantizesWithRounding) {
  Tensor a = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 2}, {2, 4});
  Tensor b = Tensor::from_vector<uint8_t>(DType::kUInt8, {2, 1}, {3, 5});
  Tensor one = f32({}, {1.0f});
  Tensor zero = Tensor::scalar<uint8_t>(DType::kUInt8, 0);
  // acc = 2*3 + 4*5 = 26; y = 26 * (0.5*1/2) = 6.5 -> 6 (half to even) + zp 100 = 106
  auto r = run_op(OpKind::kQLinearMatMul, {a, f32({}, {0.5f}), zero, b, one, zero, f32({}, {2.0f}),
                                           Tensor::scalar<uint8_t>(DType::kUInt8, 100)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).data<uint8_t>()[0], 106);
  // Out-of-range results wrap like the ONNX reference implementation: 2600 mod 256 = 40.
  auto s = run_op(OpKind::kQLinearMatMul, {a, f32({}, {100.0f}), zero, b, one, zero, one, zero});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->at(0).data<uint8_t>()[0], 40);
  EXPECT_FALSE(run_op(OpKind::kQLinearMatMul, {f32({1, 2}, {}), one, zero, b, one, zero, one, zero}).ok());
}

TEST(MathEinsum, TransposeDiagonalEllipsisImplicit) {
  Attrs t;
  t.set("equation", std::string("ij->ji"));
  auto r = run_op(OpKind::kEinsum, {f64({2, 3}, {1, 2, 3, 4, 5, 6})}, t);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at(0).dims(), (Dims{3, 2}));
  expect_near_all(r->at(0), {1, 4, 2, 5, 3, 6});

  Attrs d;
  d.set("equation", std::string("...ii ->...i"));
  auto dg = run_op(OpKind::kEinsum, {f64({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}, d);
  ASSERT_TRUE(dg.ok()) << dg.status().message();
  EXPECT_EQ(dg->at(0).dims(), (Dims{2, 2}));
  expect_near_all(dg->at(0), {1, 4, 5, 8});

  Attrs tr;  // implicit output of a trace: scalar
  tr.set("equation", std::string("ii"));
  auto trace = run_op(OpKind::kEinsum, {f64({2, 2}, {1, 2, 3, 4})}, tr);
  ASSERT_TRUE(trace.ok());
  EXPECT_EQ(trace->at(0).rank(), 0u);
  expect_near_all(trace->at(0), {5});

  Attrs bm;  // batched matmul with broadcast ellipsis, implicit output "...ik"
  bm.set("equation", std::string("...ij,...jk"));
  auto m = run_op(OpKind::kEinsum, {f32({2, 1, 2}, {1, 2, 3, 4}), f32({2, 1}, {1, 1})}, bm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->at(0).dims(), (Dims{2, 1, 1}));
  expect_near_all(m->at(0), {3, 7});

  Attrs bad;
  bad.set("equation", std::string("ij,jk->ik"));
  EXPECT_FALSE(run_op(OpKind::kEinsum, {f32({2, 3}, {}), f32({2, 2}, {})}, bad).ok());
  Attrs bad_out;
  bad_out.set("equation", std::string("ij->iz"));
  EXPECT_FALSE(run_op(OpKind::kEinsum, {f32({2, 3}, {})}, bad_out).ok());
}

TEST(MathDet, SquareAndBatched) {
  auto r = run_op(OpKind::kDet, {f32({2, 2}, {1, 2, 3, 4})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at(0).rank(), 0u);
  expect_near_all(r->at(0), {-2});
  auto b = run_op(OpKind::kDet, {f64({2, 3, 3}, {0, 1, 0, 1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 0, 0, 0, 4})});
  ASSERT_TRUE(b.ok());
  expect_near_all(b->at(0), {-1, 24});
  EXPECT_FALSE(run_op(OpKind::kDet, {f32({2, 3}, {})}).ok());
}
