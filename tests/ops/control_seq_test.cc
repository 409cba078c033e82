// Tests of the control family's sequence and optional kernels.
#include <gtest/gtest.h>

#include "backends/reference/kernel.h"

namespace {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;
using kiln::Value;

// Runs one reference kernel without subgraphs. A Value of kind kUnknown = absent input.
kiln::Result<std::vector<Value>> run_op(OpKind op, const std::vector<Value>& inputs, Attrs attrs = {}, int opset = 21) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = opset;
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool present = inputs[i].kind != kiln::ValueKind::kUnknown;
    node.inputs.push_back(present ? "in" + std::to_string(i) : "");
    ptrs.push_back(present ? &inputs[i] : nullptr);
  }
  node.outputs.push_back("out");
  kiln::KernelFn fn = kiln::reference_kernels().find(op);
  if (!fn) return kiln::unimplemented("no kernel");
  kiln::KernelContext ctx(node, ptrs, nullptr);
  KILN_RETURN_IF_ERROR(fn(ctx));
  return ctx.outputs();
}

Tensor f32(Dims dims, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v); }
Tensor i64(Dims dims, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, std::move(dims), v); }
Value absent() {
  Value v;
  v.kind = kiln::ValueKind::kUnknown;
  return v;
}
std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}

Value three_seq() { return Value::of_sequence({f32({1}, {1}), f32({2}, {2, 3}), f32({1}, {4})}, DType::kFloat32); }

TEST(ControlSequence, ConstructAtLength) {
  auto r = run_op(OpKind::kSequenceConstruct, {Value::of(f32({1}, {1})), Value::of(f32({2}, {2, 3}))});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].sequence.size(), 2u);
  auto at = run_op(OpKind::kSequenceAt, {(*r)[0], Value::of(i64({}, {-1}))});
  ASSERT_TRUE(at.ok()) << at.status().message();
  EXPECT_EQ(values_of((*at)[0].tensor), (std::vector<double>{2, 3}));
  auto len = run_op(OpKind::kSequenceLength, {(*r)[0]});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ((*len)[0].tensor.as_int64(0), 2);
  EXPECT_FALSE(run_op(OpKind::kSequenceAt, {(*r)[0], Value::of(i64({}, {2}))}).ok());
  EXPECT_FALSE(run_op(OpKind::kSequenceConstruct, {Value::of(f32({1}, {1})), Value::of(i64({1}, {1}))}).ok());
}

TEST(ControlSequence, EmptyInsertErase) {
  Attrs a;
  a.set("dtype", int64_t{7});
  auto e = run_op(OpKind::kSequenceEmpty, {}, a);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].elem_dtype, DType::kInt64);
  EXPECT_FALSE(run_op(OpKind::kSequenceInsert, {(*e)[0], Value::of(f32({1}, {1}))}).ok());  // dtype mismatch
  auto ins = run_op(OpKind::kSequenceInsert, {three_seq(), Value::of(f32({}, {9})), Value::of(i64({}, {-3}))});
  ASSERT_TRUE(ins.ok()) << ins.status().message();
  ASSERT_EQ((*ins)[0].sequence.size(), 4u);
  EXPECT_EQ((*ins)[0].sequence[0].as_double(0), 9);
  auto back = run_op(OpKind::kSequenceInsert, {three_seq(), Value::of(f32({}, {7}))});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].sequence[3].as_double(0), 7);
  EXPECT_FALSE(run_op(OpKind::kSequenceInsert, {three_seq(), Value::of(f32({}, {7})), Value::of(i64({}, {4}))}).ok());
  auto er = run_op(OpKind::kSequenceErase, {three_seq(), Value::of(i64({}, {1}))});
  ASSERT_TRUE(er.ok());
  ASSERT_EQ((*er)[0].sequence.size(), 2u);
  EXPECT_EQ((*er)[0].sequence[1].as_double(0), 4);
  auto last = run_op(OpKind::kSequenceErase, {three_seq()});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0].sequence.size(), 2u);
  EXPECT_FALSE(run_op(OpKind::kSequenceErase, {Value::of_sequence({}, DType::kFloat32)}).ok());
}

TEST(ControlSequence, SplitToSequenceForms) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Attrs a;
  a.set("axis", int64_t{-1});
  auto r = run_op(OpKind::kSplitToSequence, {Value::of(x), Value::of(i64({}, {2}))}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].sequence.size(), 2u);
  EXPECT_EQ((*r)[0].sequence[1].dims(), (Dims{2, 1}));
  EXPECT_EQ(values_of((*r)[0].sequence[1]), (std::vector<double>{3, 6}));
  r = run_op(OpKind::kSplitToSequence, {Value::of(x), Value::of(i64({2}, {1, 2}))}, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of((*r)[0].sequence[1]), (std::vector<double>{2, 3, 5, 6}));
  Attrs nk;
  nk.set("keepdims", int64_t{0});
  r = run_op(OpKind::kSplitToSequence, {Value::of(x)}, nk);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)[0].sequence.size(), 2u);
  EXPECT_EQ((*r)[0].sequence[0].dims(), (Dims{3}));
  EXPECT_FALSE(run_op(OpKind::kSplitToSequence, {Value::of(x), Value::of(i64({2}, {1, 1}))}, a).ok());
  EXPECT_FALSE(run_op(OpKind::kSplitToSequence, {Value::of(x), Value::of(i64({}, {0}))}, a).ok());
}

TEST(ControlSequence, ConcatFromSequence) {
  Value seq = Value::of_sequence({f32({2, 1}, {1, 2}), f32({2, 2}, {3, 4, 5, 6})}, DType::kFloat32);
  Attrs a;
  a.set("axis", int64_t{-1});
  auto r = run_op(OpKind::kConcatFromSequence, {seq}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].tensor.dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of((*r)[0].tensor), (std::vector<double>{1, 3, 4, 2, 5, 6}));
  Attrs stack;
  stack.set("axis", int64_t{-1});
  stack.set("new_axis", int64_t{1});
  Value same = Value::of_sequence({f32({2}, {1, 2}), f32({2}, {3, 4})}, DType::kFloat32);
  r = run_op(OpKind::kConcatFromSequence, {same}, stack);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].tensor.dims(), (Dims{2, 2}));
  EXPECT_EQ(values_of((*r)[0].tensor), (std::vector<double>{1, 3, 2, 4}));
  EXPECT_FALSE(run_op(OpKind::kConcatFromSequence, {seq}, stack).ok());  // shapes differ for stacking
  EXPECT_FALSE(run_op(OpKind::kConcatFromSequence, {Value::of_sequence({}, DType::kFloat32)}, a).ok());
}

TEST(ControlOptional, WrapGetHas) {
  auto o = run_op(OpKind::kOptional, {Value::of(f32({2}, {1, 2}))});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ((*o)[0].kind, kiln::ValueKind::kOptional);
  auto has = run_op(OpKind::kOptionalHasElement, {(*o)[0]});
  ASSERT_TRUE(has.ok());
  EXPECT_EQ((*has)[0].tensor.as_int64(0), 1);
  auto got = run_op(OpKind::kOptionalGetElement, {(*o)[0]});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(values_of((*got)[0].tensor), (std::vector<double>{1, 2}));

  Attrs t;
  t.set("type", std::string("seq:tensor:float32"));
  auto empty = run_op(OpKind::kOptional, {absent()}, t);
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_FALSE((*empty)[0].has_value);
  EXPECT_EQ((*empty)[0].optional_of, kiln::ValueKind::kSequence);
  has = run_op(OpKind::kOptionalHasElement, {(*empty)[0]});
  EXPECT_EQ((*has)[0].tensor.as_int64(0), 0);
  has = run_op(OpKind::kOptionalHasElement, {absent()});
  EXPECT_EQ((*has)[0].tensor.as_int64(0), 0);
  has = run_op(OpKind::kOptionalHasElement, {Value::of(f32({}, {1}))});
  EXPECT_EQ((*has)[0].tensor.as_int64(0), 1);
  EXPECT_FALSE(run_op(OpKind::kOptionalGetElement, {(*empty)[0]}).ok());
  EXPECT_FALSE(run_op(OpKind::kOptional, {absent()}).ok());  // no input and no type
}

}  // namespace
