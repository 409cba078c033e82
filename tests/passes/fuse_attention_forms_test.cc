// Tests of fuse_attention on the structures exporters write (small IR graphs; each runs before and after the pass
// on the reference backend): scales through Shape and on both sides, Where masks of both polarities, causal
// constants, fills, 2-D/3-D operands, grouped heads (Expand and Tile), casts around Softmax, inference Dropout, the
// keys' reshape chain, the key-axis expansion; and every refusal (the graph stays as it was, outputs equal).
#include <cmath>
#include <limits>

#include "tests/passes/fuse_test_util.h"

namespace {

using namespace kiln_pass_test;  // NOLINT

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

const Node* find_op(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

// q [B,H,S,D], k [B,H,T,D], v [B,H,T,D] and s0 = q @ Transpose(k, 0,1,3,2).
struct Block {
  GraphBuilder b;
  int64_t batch = 2, heads = 2, sq = 5, t = 6, d = 4;
  explicit Block(int64_t sq_ = 5, int64_t t_ = 6) : sq(sq_), t(t_) {
    b.input("q", {batch, heads, sq, d}).input("k", {batch, heads, t, d}).input("v", {batch, heads, t, d});
    b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
    b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  }
  // Softmax(s) then @ v -> y.
  Graph finish(const std::string& s, int64_t axis = -1) {
    b.node(OpKind::kSoftmax, {s}, {"p"}).attrs.set("axis", axis);
    b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
    b.output("y");
    return b.finish();
  }
  // A boolean [B,1,1,T] padding condition from a float input, the first key always kept (no empty rows).
  std::string pad_cond() {
    b.input("mf", {batch, 1, 1, t});
    b.constant("zero", scalar_f32(0.f));
    std::vector<uint8_t> first(static_cast<size_t>(t), 0);
    first[0] = 1;
    Tensor keep0(DType::kBool, {t});
    for (int64_t j = 0; j < t; ++j) keep0.data<uint8_t>()[j] = first[static_cast<size_t>(j)];
    b.constant("keep0", keep0);
    b.node(OpKind::kGreater, {"mf", "zero"}, {"gt"});
    b.node(OpKind::kOr, {"gt", "keep0"}, {"pad"});
    return "pad";
  }
  // A constant [Sq, T] condition: keep(i, j).
  template <typename F>
  std::string const_cond(const std::string& name, F keep) {
    Tensor c(DType::kBool, {sq, t});
    for (int64_t i = 0; i < sq; ++i)
      for (int64_t j = 0; j < t; ++j) c.data<uint8_t>()[i * t + j] = keep(i, j) ? 1 : 0;
    b.constant(name, c);
    return name;
  }
};

Graph fused(const Graph& g) { return run_and_compare(*make_fuse_attention_pass(), g, true); }
void refused(const Graph& g) { run_and_compare(*make_fuse_attention_pass(), g, false); }

TEST(FuseAttentionForms, SqrtScaleOnQAndKeys) {
  Block a;
  a.b.constant("r", scalar_f32(std::sqrt(0.125f)));
  a.b.node(OpKind::kMul, {"q", "r"}, {"qs"});
  a.b.node(OpKind::kMul, {"kt", "r"}, {"kts"});
  a.b.node(OpKind::kMatMul, {"qs", "kts"}, {"s1"});
  Graph g = fused(a.finish("s1"));
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->inputs[0], "q");
  EXPECT_EQ(n->inputs[1], "k");
  EXPECT_NEAR(n->attrs.get_float("scale"), 0.125, 1e-6);
  EXPECT_EQ(g.nodes.size(), 1u) << print_graph(g);  // the scalings and the K transpose are gone
}

TEST(FuseAttentionForms, ScaleFromShapeWithDynamicBatch) {
  // 1/sqrt(D) computed from Shape(q) as the legacy exporter writes it; q's batch is a symbol, D is static.
  GraphBuilder b;
  b.batched_input("q", {2, 5, 4}).batched_input("k", {2, 6, 4}).batched_input("v", {2, 6, 4});
  b.ints("start", {-1}).ints("end", {std::numeric_limits<int64_t>::max()}).constant("one", scalar_f32(1.f));
  b.node(OpKind::kShape, {"q"}, {"shape"});
  b.node(OpKind::kSlice, {"shape", "start", "end"}, {"dlast"});
  b.node(OpKind::kCast, {"dlast"}, {"df"}).attrs.set("to", int64_t{1});
  b.node(OpKind::kSqrt, {"df"}, {"sd"});
  b.node(OpKind::kDiv, {"one", "sd"}, {"inv"});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kMul, {"s0", "inv"}, {"s1"});
  b.node(OpKind::kSoftmax, {"s1"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  Graph g = fused(b.finish());
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_NEAR(n->attrs.get_float("scale"), 0.5, 1e-6);
}

TEST(FuseAttentionForms, WhereKeepsScoresWhereTrueIsABoolMask) {
  Block a;
  const std::string pad = a.pad_cond();
  a.b.constant("ninf", scalar_f32(kNegInf));
  a.b.node(OpKind::kWhere, {pad, "s0", "ninf"}, {"s1"});
  Graph g = fused(a.finish("s1"));
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(g.type_of(n->inputs[3])->dtype, DType::kBool);
  EXPECT_EQ(count_ops(g, OpKind::kNot), 0);
}

TEST(FuseAttentionForms, MaskedFillIsTheNegatedCondition) {
  // masked_fill(mask, -inf): Where(mask, -inf, scores) keeps scores where the mask is False.
  Block a;
  const std::string pad = a.pad_cond();
  a.b.node(OpKind::kNot, {pad}, {"masked"});
  a.b.constant("ninf", scalar_f32(kNegInf));
  a.b.node(OpKind::kWhere, {"masked", "ninf", "s0"}, {"s1"});
  Graph g = fused(a.finish("s1"));
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(g.type_of(n->inputs[3])->dtype, DType::kBool);
}

TEST(FuseAttentionForms, LowerTriangularConstantsBecomeIsCausal) {
  for (int form = 0; form < 3; ++form) {
    Block a(5, form == 2 ? 7 : 5);  // form 2: cross-shaped [5, 7], ONNX's top-left alignment
    const std::string tri = a.const_cond("tri", [](int64_t i, int64_t j) { return j <= i; });
    std::string s = "s1";
    if (form == 1) {  // an additive -1e4 matrix
      Tensor add(DType::kFloat32, {a.sq, a.t});
      for (int64_t i = 0; i < a.sq; ++i)
        for (int64_t j = 0; j < a.t; ++j) add.data<float>()[i * a.t + j] = j <= i ? 0.f : -1e4f;
      a.b.constant("bias", add);
      a.b.node(OpKind::kAdd, {"s0", "bias"}, {"s1"});
    } else {
      a.b.constant("ninf", scalar_f32(kNegInf));
      a.b.node(OpKind::kWhere, {tri, "s0", "ninf"}, {"s1"});
    }
    Graph g = fused(a.finish(s));
    const Node* n = find_op(g, OpKind::kAttention);
    ASSERT_NE(n, nullptr) << form;
    EXPECT_EQ(n->attrs.get_int("is_causal", 0), 1) << form;
    EXPECT_EQ(n->inputs.size(), 3u) << form;
  }
}

TEST(FuseAttentionForms, OtherConstantsStayMasks) {
  // A band (not lower-triangular) keeps its mask; so does the upper triangle.
  for (int form = 0; form < 2; ++form) {
    Block a(5, 5);
    const std::string c = form == 0 ? a.const_cond("band", [](int64_t i, int64_t j) { return j <= i && i - j < 2; })
                                    : a.const_cond("upper", [](int64_t i, int64_t j) { return j >= i; });
    a.b.constant("ninf", scalar_f32(kNegInf));
    a.b.node(OpKind::kWhere, {c, "s0", "ninf"}, {"s1"});
    Graph g = fused(a.finish("s1"));
    const Node* n = find_op(g, OpKind::kAttention);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->attrs.get_int("is_causal", 0), 0);
    EXPECT_EQ(n->inputs.size(), 4u);
  }
}

TEST(FuseAttentionForms, CausalAndPaddingSplit) {
  Block a(6, 6);
  const std::string pad = a.pad_cond();
  const std::string tri = a.const_cond("tri", [](int64_t i, int64_t j) { return j <= i; });
  a.b.node(OpKind::kAnd, {tri, pad}, {"both"});
  a.b.constant("zero_f", scalar_f32(0.f)).constant("ninf", scalar_f32(kNegInf));
  a.b.node(OpKind::kWhere, {"both", "zero_f", "ninf"}, {"bias"});
  a.b.node(OpKind::kAdd, {"s0", "bias"}, {"s1"});
  Graph g = fused(a.finish("s1"));
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->attrs.get_int("is_causal", 0), 1);
  ASSERT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(n->inputs[3], pad);  // the [B,1,1,T] padding condition itself
}

TEST(FuseAttentionForms, FiniteFills) {
  // float32's lowest absorbs every score: an input condition stays an additive select (rows with every key masked
  // still average uniformly, as in the graph).
  {
    Block a;
    const std::string pad = a.pad_cond();
    a.b.constant("low", scalar_f32(std::numeric_limits<float>::lowest()));
    a.b.node(OpKind::kWhere, {pad, "s0", "low"}, {"s1"});
    Graph g = fused(a.finish("s1"));
    const Node* n = find_op(g, OpKind::kAttention);
    ASSERT_NE(n, nullptr);
    ASSERT_EQ(n->inputs.size(), 4u);
    EXPECT_EQ(g.type_of(n->inputs[3])->dtype, DType::kFloat32);
  }
  // -1e4 on a constant condition that leaves every row a key: the weights underflow either way -> is_causal.
  {
    Block a(5, 5);
    const std::string tri = a.const_cond("tri", [](int64_t i, int64_t j) { return j <= i; });
    a.b.constant("fill", scalar_f32(-1e4f));
    a.b.node(OpKind::kWhere, {tri, "s0", "fill"}, {"s1"});
    Graph g = fused(a.finish("s1"));
    EXPECT_EQ(find_op(g, OpKind::kAttention)->attrs.get_int("is_causal", 0), 1);
  }
  // -1e4 replacing the scores on an input condition: a fully masked row would differ (uniform vs softmax(s)).
  {
    Block a;
    const std::string pad = a.pad_cond();
    a.b.constant("fill", scalar_f32(-1e4f));
    a.b.node(OpKind::kWhere, {pad, "s0", "fill"}, {"s1"});
    refused(a.finish("s1"));
  }
}

TEST(FuseAttentionForms, ThreeDAndTwoDOperandsGetOneHead) {
  for (int rank : {2, 3}) {
    GraphBuilder b;
    const std::vector<int64_t> q = rank == 3 ? std::vector<int64_t>{4, 5, 8} : std::vector<int64_t>{5, 8};
    const std::vector<int64_t> k = rank == 3 ? std::vector<int64_t>{4, 6, 8} : std::vector<int64_t>{6, 8};
    b.input("q", q).input("k", k).input("v", k);
    b.constant("c", scalar_f32(0.35f));
    b.node(OpKind::kMul, {"q", "c"}, {"qs"});
    b.node(OpKind::kTranspose, {"k"}, {"kt"})
        .attrs.set("perm", rank == 3 ? std::vector<int64_t>{0, 2, 1} : std::vector<int64_t>{1, 0});
    b.node(OpKind::kMatMul, {"qs", "kt"}, {"s0"});
    b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
    b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
    b.output("y");
    Graph g = fused(b.finish());
    const Node* n = find_op(g, OpKind::kAttention);
    ASSERT_NE(n, nullptr) << rank;
    EXPECT_EQ(g.type_of(n->outputs[0])->shape.rank(), 4u) << rank;
    EXPECT_EQ(count_ops(g, OpKind::kSqueeze), 1) << rank;
    EXPECT_EQ(count_ops(g, OpKind::kTranspose), 0) << rank;  // Kt's transpose undone: K read as it is
  }
}

TEST(FuseAttentionForms, RepeatedKvHeadsAreGrouped) {
  // transformers' repeat_kv: [B, 2, T, D] -> Unsqueeze(2) -> Expand [B, 2, 2, T, D] -> Reshape [B, 4, T, D].
  GraphBuilder b;
  b.input("q", {2, 4, 5, 4}).input("k", {2, 2, 6, 4}).input("v", {2, 2, 6, 4});
  b.ints("ax", {2}).ints("big", {2, 2, 2, 6, 4}).ints("shape", {2, 4, 6, 4});
  for (const std::string x : {"k", "v"}) {
    b.node(OpKind::kUnsqueeze, {x, "ax"}, {x + "u"});
    b.node(OpKind::kExpand, {x + "u", "big"}, {x + "e"});
    b.node(OpKind::kReshape, {x + "e", "shape"}, {x + "r"});
  }
  b.node(OpKind::kTranspose, {"kr"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "vr"}, {"y"});
  b.output("y");
  Graph g = fused(b.finish());
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->inputs[1], "k");
  EXPECT_EQ(n->inputs[2], "v");
  EXPECT_EQ(count_ops(g, OpKind::kExpand), 0);
}

TEST(FuseAttentionForms, TileGroupsOnlyASingleKvHead) {
  for (int64_t kv : {1, 2}) {  // Tile repeats heads as h % Hkv: the same as ONNX's h / G only for one kv head
    GraphBuilder b;
    b.input("q", {2, 4, 5, 4}).input("k", {2, kv, 6, 4}).input("v", {2, kv, 6, 4});
    b.ints("reps", {1, 4 / kv, 1, 1});
    b.node(OpKind::kTile, {"k", "reps"}, {"kr"});
    b.node(OpKind::kTile, {"v", "reps"}, {"vr"});
    b.node(OpKind::kTranspose, {"kr"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
    b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
    b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
    b.node(OpKind::kMatMul, {"p", "vr"}, {"y"});
    b.output("y");
    Graph g = fused(b.finish());
    const Node* n = find_op(g, OpKind::kAttention);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->inputs[1], kv == 1 ? "k" : "kr") << kv;
    EXPECT_EQ(count_ops(g, OpKind::kTile), kv == 1 ? 0 : 2) << kv;
  }
}

TEST(FuseAttentionForms, OneKvHeadBroadcastByMatMul) {
  GraphBuilder b;
  b.input("q", {2, 4, 5, 4}).input("k", {2, 1, 6, 4}).input("v", {2, 1, 6, 4});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  fused(b.finish());
}

TEST(FuseAttentionForms, Float16WithSoftmaxInFloat32) {
  GraphBuilder b;
  b.input("qf", {1, 2, 5, 8}).input("kf", {1, 2, 5, 8}).input("vf", {1, 2, 5, 8});
  for (const std::string x : {"q", "k", "v"}) b.node(OpKind::kCast, {x + "f"}, {x}).attrs.set("to", int64_t{10});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kCast, {"s0"}, {"s32"}).attrs.set("to", int64_t{1});
  b.node(OpKind::kSoftmax, {"s32"}, {"p32"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kCast, {"p32"}, {"p"}).attrs.set("to", int64_t{10});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y16"});
  b.node(OpKind::kCast, {"y16"}, {"y"}).attrs.set("to", int64_t{1});
  b.output("y");
  Graph g = run_and_compare(*make_fuse_attention_pass(), b.finish(), true, 2e-3);  // fp16 rounding of P
  EXPECT_EQ(count_ops(g, OpKind::kSoftmax), 0);
  EXPECT_EQ(count_ops(g, OpKind::kCast), 4);  // the model's own casts of Q, K, V and Y
}

TEST(FuseAttentionForms, InferenceDropoutAndScaleAfterMask) {
  Block a;
  a.b.input("m", {2, 1, 1, 6});
  a.b.constant("c", scalar_f32(0.25f)).constant("ratio", scalar_f32(0.1f));
  a.b.node(OpKind::kSub, {"s0", "m"}, {"s1"});   // scores - m: factor -1
  a.b.node(OpKind::kMul, {"s1", "c"}, {"s2"});   // then scaled: the mask term too
  a.b.node(OpKind::kSoftmax, {"s2"}, {"p0"}).attrs.set("axis", int64_t{-1});
  a.b.node(OpKind::kDropout, {"p0", "ratio"}, {"p"});
  a.b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  a.b.output("y");
  Graph g = fused(a.b.finish());
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_NEAR(n->attrs.get_float("scale"), 0.25, 1e-6);
  EXPECT_EQ(count_ops(g, OpKind::kDropout), 0);
}

TEST(FuseAttentionForms, TwoAdditiveTermsAndAShortKeyAxis) {
  // T5: scores + position bias [1,H,S,T] + mask; a [B,1,S,1] bias broadcasts over the keys: the mask is expanded.
  Block a;
  a.b.input("bias", {1, 2, 5, 6}).input("rowbias", {2, 1, 5, 1});
  a.b.node(OpKind::kAdd, {"s0", "bias"}, {"s1"});
  a.b.node(OpKind::kAdd, {"rowbias", "s1"}, {"s2"});
  Graph g = fused(a.finish("s2"));
  EXPECT_EQ(count_ops(g, OpKind::kAttention), 1);
  Block b2;
  b2.b.input("rowbias", {2, 1, 5, 1});
  b2.b.node(OpKind::kAdd, {"s0", "rowbias"}, {"s1"});
  Graph g2 = fused(b2.finish("s1"));
  EXPECT_EQ(count_ops(g2, OpKind::kExpand), 1) << print_graph(g2);
}

TEST(FuseAttentionForms, KeysFromTheDynamoReshapeChain) {
  // k [B,H,T,D] -> Reshape [B*H,T,D] -> Transpose(0,2,1) -> Reshape [B,H,D,T]: K is k itself.
  GraphBuilder b;
  b.input("q", {2, 2, 5, 4}).input("k", {2, 2, 6, 4}).input("v", {2, 2, 6, 4});
  b.ints("flat", {-1, 6, 4}).ints("back", {2, 2, 4, 6});
  b.node(OpKind::kReshape, {"k", "flat"}, {"k3"});
  b.node(OpKind::kTranspose, {"k3"}, {"k3t"}).attrs.set("perm", std::vector<int64_t>{0, 2, 1});
  b.node(OpKind::kReshape, {"k3t", "back"}, {"kt"});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  Graph g = fused(b.finish());
  ASSERT_EQ(g.nodes.size(), 1u) << print_graph(g);
  EXPECT_EQ(g.nodes[0].inputs[1], "k");
}

TEST(FuseAttentionForms, KeysGivenTransposedGetATranspose) {
  GraphBuilder b;
  b.input("q", {2, 2, 5, 4}).input("kt", {2, 2, 4, 6}).input("v", {2, 2, 6, 4});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  Graph g = fused(b.finish());
  EXPECT_EQ(count_ops(g, OpKind::kTranspose), 1);
}

TEST(FuseAttentionForms, AllTrueConstantMaskDisappears) {
  Block a(5, 6);
  const std::string all = a.const_cond("all", [](int64_t, int64_t) { return true; });
  a.b.constant("ninf", scalar_f32(kNegInf));
  a.b.node(OpKind::kWhere, {all, "s0", "ninf"}, {"s1"});
  Graph g = fused(a.finish("s1"));
  const Node* n = find_op(g, OpKind::kAttention);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->inputs.size(), 3u);
  EXPECT_EQ(n->attrs.get_int("is_causal", 0), 0);
}

// ---- refusals: the graph is left as it was and computes the same ----

TEST(FuseAttentionForms, RefusesAnAllTrueConstantThatWidensTheScores) {
  // Q and K with one head, a [1,2,5,6] all-true condition: the graph's output has two heads.
  GraphBuilder b;
  b.input("q", {2, 1, 5, 4}).input("k", {2, 1, 6, 4}).input("v", {2, 1, 6, 4});
  Tensor all(DType::kBool, {1, 2, 5, 6});
  for (int64_t i = 0; i < all.numel(); ++i) all.data<uint8_t>()[i] = 1;
  b.constant("all", all).constant("ninf", scalar_f32(kNegInf));
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kWhere, {"all", "s0", "ninf"}, {"s1"});
  b.node(OpKind::kSoftmax, {"s1"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  refused(b.finish());
}

TEST(FuseAttentionForms, RefusesTrainingDropout) {
  Block a;
  Tensor yes(DType::kBool, {});
  yes.data<uint8_t>()[0] = 1;
  a.b.constant("ratio", scalar_f32(0.f)).constant("train", yes);
  a.b.node(OpKind::kSoftmax, {"s0"}, {"p0"}).attrs.set("axis", int64_t{-1});
  a.b.node(OpKind::kDropout, {"p0", "ratio", "train"}, {"p"});
  a.b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  a.b.output("y");
  refused(a.b.finish());
}

TEST(FuseAttentionForms, RefusesPerHeadScale) {
  Block a;
  a.b.floats("per_head", {1, 2, 1, 1});
  a.b.node(OpKind::kMul, {"s0", "per_head"}, {"s1"});
  refused(a.finish("s1"));
}

TEST(FuseAttentionForms, RefusesAMaskThatWidensTheScores) {
  // Q and K with one head; the mask brings two: the graph's output has two heads, an Attention could not.
  GraphBuilder b;
  b.input("q", {2, 1, 5, 4}).input("k", {2, 1, 6, 4}).input("v", {2, 1, 6, 4}).input("m", {2, 2, 5, 6});
  b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
  b.node(OpKind::kAdd, {"s0", "m"}, {"s1"});
  b.node(OpKind::kSoftmax, {"s1"}, {"p"}).attrs.set("axis", int64_t{-1});
  b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  b.output("y");
  refused(b.finish());
}

TEST(FuseAttentionForms, RefusesBroadcastQueriesOrBatch) {
  for (int form = 0; form < 2; ++form) {
    GraphBuilder b;
    if (form == 0)  // one query head against two key heads
      b.input("q", {2, 1, 5, 4}).input("k", {2, 2, 6, 4}).input("v", {2, 2, 6, 4});
    else  // keys shared across the batch
      b.input("q", {2, 2, 5, 4}).input("k", {1, 2, 6, 4}).input("v", {1, 2, 6, 4});
    b.node(OpKind::kTranspose, {"k"}, {"kt"}).attrs.set("perm", std::vector<int64_t>{0, 1, 3, 2});
    b.node(OpKind::kMatMul, {"q", "kt"}, {"s0"});
    b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
    b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
    b.output("y");
    refused(b.finish());
  }
}

TEST(FuseAttentionForms, RefusesANegativeScaleAfterAMask) {
  Block a;
  const std::string pad = a.pad_cond();
  a.b.constant("ninf", scalar_f32(kNegInf)).constant("neg", scalar_f32(-0.5f));
  a.b.node(OpKind::kWhere, {pad, "s0", "ninf"}, {"s1"});
  a.b.node(OpKind::kMul, {"s1", "neg"}, {"s2"});
  a.b.node(OpKind::kSoftmax, {"s2"}, {"p"}).attrs.set("axis", int64_t{-1});
  a.b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
  a.b.output("y");
  Graph before = a.b.finish();
  Graph after = before;
  EXPECT_FALSE(run_pass_checked(*make_fuse_attention_pass(), after));  // (+inf scores: NaN rows, not compared)
}

TEST(FuseAttentionForms, RefusesProbabilitiesReadElsewhereAndNarrowingCasts) {
  {
    Block a;
    a.b.node(OpKind::kSoftmax, {"s0"}, {"p"}).attrs.set("axis", int64_t{-1});
    a.b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
    a.b.output("y").output("p");  // attention weights returned
    refused(a.b.finish());
  }
  {
    Block a;  // float32 scores rounded to float16 before the softmax: the fused op would be more precise
    a.b.node(OpKind::kCast, {"s0"}, {"s16"}).attrs.set("to", int64_t{10});
    a.b.node(OpKind::kSoftmax, {"s16"}, {"p16"}).attrs.set("axis", int64_t{-1});
    a.b.node(OpKind::kCast, {"p16"}, {"p"}).attrs.set("to", int64_t{1});
    a.b.node(OpKind::kMatMul, {"p", "v"}, {"y"});
    a.b.output("y");
    refused(a.b.finish());
  }
}

}  // namespace
