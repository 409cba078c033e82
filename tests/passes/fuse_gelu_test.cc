// Tests of fuse_gelu: the erf and tanh GELU forms in every grouping of the final multiplications, both operand
// orders, Pow or x*x*x cubes; and the cases it must leave alone.
#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

enum class Tail { kXpHalf, kXhalfP, kXPhalf };  // (x*p)*0.5, (x*0.5)*p, x*(p*0.5)

// p = 1 + f -> y, with the 0.5 and x factors grouped per `tail`.
void add_tail(GraphBuilder& b, const std::string& p, Tail tail) {
  switch (tail) {
    case Tail::kXpHalf:
      b.node(OpKind::kMul, {"x", p}, {"t1"});
      b.node(OpKind::kMul, {"t1", "half"}, {"y"});
      break;
    case Tail::kXhalfP:
      b.node(OpKind::kMul, {"half", "x"}, {"t1"});
      b.node(OpKind::kMul, {"t1", p}, {"y"});
      break;
    case Tail::kXPhalf:
      b.node(OpKind::kMul, {p, "half"}, {"t1"});
      b.node(OpKind::kMul, {"t1", "x"}, {"y"});
      break;
  }
}

Graph erf_gelu(Tail tail, bool use_div, bool erf_is_output = false, float sqrt2 = 1.4142135f) {
  GraphBuilder b;
  b.input("x", {2, 16}).constant("half", scalar_f32(0.5f)).constant("one", scalar_f32(1.f));
  b.constant("s", scalar_f32(use_div ? sqrt2 : 1.f / sqrt2));
  b.node(use_div ? OpKind::kDiv : OpKind::kMul,
         use_div ? std::vector<std::string>{"x", "s"} : std::vector<std::string>{"s", "x"}, {"a"});
  b.node(OpKind::kErf, {"a"}, {"e"});
  b.node(OpKind::kAdd, {"one", "e"}, {"p"});
  add_tail(b, "p", tail);
  b.output("y");
  if (erf_is_output) b.output("e");
  return b.finish();
}

Graph tanh_gelu(Tail tail, bool use_pow) {
  GraphBuilder b;
  b.input("x", {3, 8}).constant("half", scalar_f32(0.5f)).constant("one", scalar_f32(1.f));
  b.constant("three", scalar_f32(3.f)).constant("c", scalar_f32(0.044715f)).constant("k", scalar_f32(0.7978845608f));
  if (use_pow) {
    b.node(OpKind::kPow, {"x", "three"}, {"x3"});
  } else {
    b.node(OpKind::kMul, {"x", "x"}, {"x2"});
    b.node(OpKind::kMul, {"x2", "x"}, {"x3"});
  }
  b.node(OpKind::kMul, {"c", "x3"}, {"cx3"});
  b.node(OpKind::kAdd, {"x", "cx3"}, {"inner"});
  b.node(OpKind::kMul, {"inner", "k"}, {"arg"});
  b.node(OpKind::kTanh, {"arg"}, {"t"});
  b.node(OpKind::kAdd, {"t", "one"}, {"p"});
  add_tail(b, "p", tail);
  b.output("y");
  return b.finish();
}

void expect_one_gelu(const Graph& g, const char* approximate) {
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].op, OpKind::kGelu);
  EXPECT_EQ(g.nodes[0].attrs.get_string("approximate"), approximate);
  EXPECT_EQ(g.nodes[0].inputs, std::vector<std::string>{"x"});
}

TEST(FuseGelu, ErfFormsInEveryGrouping) {
  auto pass = make_fuse_gelu_pass();
  for (Tail t : {Tail::kXpHalf, Tail::kXhalfP, Tail::kXPhalf})
    for (bool div : {true, false}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(t)) + (div ? " div" : " mul"));
      expect_one_gelu(run_and_compare(*pass, erf_gelu(t, div), true, 1e-6), "none");
    }
}

TEST(FuseGelu, TanhFormsWithPowOrCube) {
  auto pass = make_fuse_gelu_pass();
  for (Tail t : {Tail::kXpHalf, Tail::kXhalfP, Tail::kXPhalf})
    for (bool pow : {true, false}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(t)) + (pow ? " pow" : " cube"));
      expect_one_gelu(run_and_compare(*pass, tanh_gelu(t, pow), true, 1e-6), "tanh");
    }
}

TEST(FuseGelu, LeavesNonMatchingGraphsAlone) {
  auto pass = make_fuse_gelu_pass();
  Graph g = run_and_compare(*pass, erf_gelu(Tail::kXpHalf, true, /*erf_is_output=*/true), false);
  EXPECT_EQ(count_ops(g, OpKind::kGelu), 0);
  run_and_compare(*pass, erf_gelu(Tail::kXpHalf, true, false, /*sqrt2=*/2.0f), false);  // not x / sqrt(2)
}

}  // namespace
