// Tests of the control family's string, TfIdfVectorizer and random-generator kernels.
#include <gtest/gtest.h>

#include "backends/reference/kernel.h"

namespace {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;

kiln::Result<std::vector<Tensor>> run_op(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs = {},
                                         size_t num_outputs = 1) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = 21;
  std::vector<kiln::Value> values(inputs.size());
  std::vector<const kiln::Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back("in" + std::to_string(i));
    values[i] = kiln::Value::of(inputs[i]);
    ptrs.push_back(&values[i]);
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  kiln::KernelFn fn = kiln::reference_kernels().find(op);
  if (!fn) return kiln::unimplemented("no kernel");
  kiln::KernelContext ctx(node, ptrs, nullptr);
  KILN_RETURN_IF_ERROR(fn(ctx));
  std::vector<Tensor> outs;
  for (auto& v : ctx.outputs()) outs.push_back(v.tensor);
  return outs;
}

Tensor str(Dims dims, std::vector<std::string> v) {
  Tensor t(DType::kString, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}
std::vector<std::string> strings_of(const Tensor& t) { return {t.strings(), t.strings() + t.numel()}; }
std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}

TEST(ControlString, ConcatBroadcasts) {
  auto r = run_op(OpKind::kStringConcat, {str({2, 1}, {"a", "b"}), str({3}, {"x", "y", ""})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(strings_of((*r)[0]), (std::vector<std::string>{"ax", "ay", "a", "bx", "by", "b"}));
  EXPECT_FALSE(run_op(OpKind::kStringConcat, {str({2}, {"a", "b"}), str({3}, {"x", "y", "z"})}).ok());
  EXPECT_FALSE(run_op(OpKind::kStringConcat, {str({1}, {"a"}), Tensor(DType::kFloat32, {1})}).ok());
}

TEST(ControlString, NormalizerStopwordsAndCase) {
  Attrs a;
  a.set("case_change_action", std::string("UPPER"));
  a.set("stopwords", std::vector<std::string>{"monday"});
  auto r = run_op(OpKind::kStringNormalizer, {str({1, 3}, {"Monday", "tuesday", "\xc3\xa9t\xc3\xa9"})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{1, 2}));
  EXPECT_EQ(strings_of((*r)[0]), (std::vector<std::string>{"TUESDAY", "\xc3\x89T\xc3\x89"}));  // été -> ÉTÉ
  a.set("is_case_sensitive", int64_t{1});
  r = run_op(OpKind::kStringNormalizer, {str({2}, {"monday", "monday"})}, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(strings_of((*r)[0]), std::vector<std::string>{""});
  EXPECT_FALSE(run_op(OpKind::kStringNormalizer, {str({2, 2}, {"a", "b", "c", "d"})}, a).ok());
}

TEST(ControlString, SplitPadsAndCounts) {
  Attrs a;
  a.set("delimiter", std::string("-"));
  auto r = run_op(OpKind::kStringSplit, {str({2}, {"a-b--c", "x"})}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 4}));
  EXPECT_EQ(strings_of((*r)[0]), (std::vector<std::string>{"a", "b", "", "c", "x", "", "", ""}));
  EXPECT_EQ(values_of((*r)[1]), (std::vector<double>{4, 1}));
  Attrs ws;
  ws.set("maxsplit", int64_t{1});
  r = run_op(OpKind::kStringSplit, {str({}, {"  one two  three "})}, ws, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(strings_of((*r)[0]), (std::vector<std::string>{"one", "two  three"}));
  ws.set("maxsplit", int64_t{-2});
  EXPECT_FALSE(run_op(OpKind::kStringSplit, {str({1}, {"a"})}, ws, 2).ok());
}

TEST(ControlString, RegexFullMatch) {
  Attrs a;
  a.set("pattern", std::string("www\\.[\\w.-]+\\.\\bcom\\b"));
  auto r = run_op(OpKind::kRegexFullMatch, {str({3}, {"www.google.com", "www.bbc.co.uk", "xwww.a.com"})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(values_of((*r)[0]), (std::vector<double>{1, 0, 0}));
  a.set("pattern", std::string("(unclosed"));
  EXPECT_FALSE(run_op(OpKind::kRegexFullMatch, {str({1}, {"a"})}, a).ok());
}

Attrs tfidf_attrs(const std::string& mode) {
  Attrs a;
  a.set("mode", mode);
  a.set("min_gram_length", int64_t{1});
  a.set("max_gram_length", int64_t{2});
  a.set("max_skip_count", int64_t{1});
  a.set("ngram_counts", std::vector<int64_t>{0, 2});
  a.set("ngram_indexes", std::vector<int64_t>{0, 1, 2});
  a.set("pool_int64s", std::vector<int64_t>{5, 6, 5, 6});  // unigrams 5, 6; bigram (5, 6)
  return a;
}

TEST(ControlTfIdf, CountsWithSkipsAndWeights) {
  Tensor x = Tensor::from_vector<int32_t>(DType::kInt32, {2, 3}, {5, 6, 6, 5, 7, 6});
  auto r = run_op(OpKind::kTfIdfVectorizer, {x}, tfidf_attrs("TF"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 3}));
  // Row 0: 5 once, 6 twice, (5,6) at skip 0 and skip 1. Row 1: (5,6) only with one skip.
  EXPECT_EQ(values_of((*r)[0]), (std::vector<double>{1, 2, 2, 1, 1, 1}));
  Attrs w = tfidf_attrs("TFIDF");
  w.set("weights", std::vector<float>{0.5f, 1.f, 2.f});
  r = run_op(OpKind::kTfIdfVectorizer, {x}, w);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of((*r)[0]), (std::vector<double>{0.5, 2, 4, 0.5, 1, 2}));
  EXPECT_FALSE(run_op(OpKind::kTfIdfVectorizer, {x}, tfidf_attrs("BM25")).ok());
}

TEST(ControlRandom, ShapesDtypesAndRanges) {
  Attrs a;
  a.set("shape", std::vector<int64_t>{3, 4});
  a.set("dtype", int64_t{11});
  a.set("low", -2.f);
  a.set("high", -1.f);
  a.set("seed", 3.f);
  auto r = run_op(OpKind::kRandomUniform, {}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat64);
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 4}));
  for (double v : values_of((*r)[0])) EXPECT_TRUE(v >= -2 && v < -1);
  auto again = run_op(OpKind::kRandomUniform, {}, a);
  EXPECT_TRUE((*again)[0].identical((*r)[0]));  // same seed, same values

  Tensor p = Tensor::from_vector<float>(DType::kFloat32, {4}, {0.f, 1.f, 0.f, 1.f});
  Attrs b;
  b.set("dtype", int64_t{9});
  auto bern = run_op(OpKind::kBernoulli, {p}, b);
  ASSERT_TRUE(bern.ok()) << bern.status().message();
  EXPECT_EQ((*bern)[0].dtype(), DType::kBool);
  EXPECT_EQ(values_of((*bern)[0]), (std::vector<double>{0, 1, 0, 1}));
  EXPECT_FALSE(run_op(OpKind::kBernoulli, {Tensor::from_vector<float>(DType::kFloat32, {1}, {1.5f})}).ok());

  Attrs m;
  m.set("sample_size", int64_t{5});
  Tensor logits = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {0, -1e4f, -1e4f, -1e4f, -1e4f, 0});
  auto mult = run_op(OpKind::kMultinomial, {logits}, m);
  ASSERT_TRUE(mult.ok()) << mult.status().message();
  EXPECT_EQ((*mult)[0].dtype(), DType::kInt32);
  EXPECT_EQ(values_of((*mult)[0]), (std::vector<double>{0, 0, 0, 0, 0, 2, 2, 2, 2, 2}));
  EXPECT_FALSE(run_op(OpKind::kMultinomial, {Tensor::from_vector<float>(DType::kFloat32, {3}, {1, 2, 3})}, m).ok());

  Attrs n;
  n.set("dtype", int64_t{10});
  auto like = run_op(OpKind::kRandomNormalLike, {Tensor(DType::kFloat32, {2, 5})}, n);
  ASSERT_TRUE(like.ok()) << like.status().message();
  EXPECT_EQ((*like)[0].dtype(), DType::kFloat16);
  EXPECT_EQ((*like)[0].dims(), (Dims{2, 5}));
  EXPECT_FALSE(run_op(OpKind::kRandomNormal, {}, {}).ok());  // shape is required
}

}  // namespace
