// RNN/GRU/LSTM typed parameters parsed once (src/ir/rnn_params.h) for shape inference and every backend: defaults
// per op, activations with alpha/beta, bidirectional expansion and every error.
#include "ir/rnn_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace kiln {
namespace {

Node rnn(OpKind op) {
  Node n;
  n.op = op;
  n.opset = 22;
  return n;
}

std::string error_of(const Node& n) {
  auto p = rnn_params(n);
  EXPECT_FALSE(p.ok());
  return p.ok() ? std::string() : p.status().message();
}

TEST(RnnParams, DefaultsPerOp) {
  auto r = rnn_params(rnn(OpKind::kRNN));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->gates, 1);
  EXPECT_EQ(r->direction, RnnDirection::kForward);
  EXPECT_EQ(r->num_directions, 1);
  EXPECT_EQ(r->hidden_size, -1);
  EXPECT_FALSE(r->batch_first);
  EXPECT_FALSE(r->has_clip);
  ASSERT_EQ(r->activations.size(), 1u);
  EXPECT_EQ(r->activations[0].kind, RnnActKind::kTanh);
  EXPECT_TRUE(r->default_activations);

  auto g = rnn_params(rnn(OpKind::kGRU));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->gates, 3);
  ASSERT_EQ(g->activations.size(), 2u);
  EXPECT_EQ(g->activations[0].kind, RnnActKind::kSigmoid);
  EXPECT_FALSE(g->linear_before_reset);

  Node ln = rnn(OpKind::kLSTM);
  ln.attrs.set("direction", std::string("bidirectional"));
  auto l = rnn_params(ln);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->gates, 4);
  EXPECT_EQ(l->num_directions, 2);
  ASSERT_EQ(l->activations.size(), 6u);  // Sigmoid, Tanh, Tanh per direction
  EXPECT_EQ(l->act(1, 0).kind, RnnActKind::kSigmoid);
  EXPECT_EQ(l->act(1, 2).kind, RnnActKind::kTanh);
  EXPECT_TRUE(l->reversed(1));
  EXPECT_FALSE(l->reversed(0));
  EXPECT_FALSE(l->input_forget);
}

TEST(RnnParams, ReadsAttributes) {
  Node n = rnn(OpKind::kGRU);
  n.attrs.set("direction", std::string("reverse"));
  n.attrs.set("hidden_size", int64_t{8});
  n.attrs.set("layout", int64_t{1});
  n.attrs.set("clip", 3.f);
  n.attrs.set("linear_before_reset", int64_t{1});
  n.attrs.set("activations", std::vector<std::string>{"HardSigmoid", "LeakyRelu"});
  n.attrs.set("activation_alpha", std::vector<float>{0.3f, 0.1f});
  n.attrs.set("activation_beta", std::vector<float>{0.4f});
  auto p = rnn_params(n);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->direction, RnnDirection::kReverse);
  EXPECT_TRUE(p->reversed(0));
  EXPECT_EQ(p->hidden_size, 8);
  EXPECT_TRUE(p->batch_first);
  EXPECT_TRUE(p->has_clip);
  EXPECT_FLOAT_EQ(p->clip, 3.f);
  EXPECT_TRUE(p->linear_before_reset);
  EXPECT_FALSE(p->default_activations);
  // Alphas and betas are consumed in order by the functions that take them.
  EXPECT_EQ(p->activations[0].kind, RnnActKind::kHardSigmoid);
  EXPECT_FLOAT_EQ(p->activations[0].alpha, 0.3f);
  EXPECT_FLOAT_EQ(p->activations[0].beta, 0.4f);
  EXPECT_EQ(p->activations[1].kind, RnnActKind::kLeakyRelu);
  EXPECT_FLOAT_EQ(p->activations[1].alpha, 0.1f);
  EXPECT_NEAR(rnn_activate(p->activations[1], -2.0), -0.2, 1e-6);
}

TEST(RnnParams, ActivationDefaultsAndFormulas) {
  Node n = rnn(OpKind::kRNN);
  n.attrs.set("direction", std::string("bidirectional"));
  n.attrs.set("activations", std::vector<std::string>{"HardSigmoid"});  // one direction's list serves both
  auto p = rnn_params(n);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->activations.size(), 2u);
  EXPECT_FLOAT_EQ(p->act(1, 0).alpha, 0.2f);
  EXPECT_FLOAT_EQ(p->act(1, 0).beta, 0.5f);
  EXPECT_DOUBLE_EQ(rnn_activate(p->act(0, 0), 0.0), 0.5);
  RnnActivation a{RnnActKind::kScaledTanh, 2.f, 0.5f};
  EXPECT_DOUBLE_EQ(rnn_activate(a, 1.0), 2.0 * std::tanh(0.5));
  EXPECT_DOUBLE_EQ(rnn_activate({RnnActKind::kAffine, 2.f, 1.f}, 3.0), 7.0);
  EXPECT_DOUBLE_EQ(rnn_activate({RnnActKind::kRelu, 0.f, 0.f}, -1.0), 0.0);
  // Case-insensitive default names still count as the defaults.
  Node lstm = rnn(OpKind::kLSTM);
  lstm.attrs.set("activations", std::vector<std::string>{"sigmoid", "TANH", "Tanh"});
  auto d = rnn_params(lstm);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->default_activations);
}

TEST(RnnParams, ErrorsNameTheAttribute) {
  auto with = [](OpKind op, const char* name, AttrValue v) {
    Node n = rnn(op);
    n.attrs.set(name, std::move(v));
    return error_of(n);
  };
  EXPECT_NE(with(OpKind::kRNN, "direction", std::string("both"))
                .find("direction must be forward, reverse or bidirectional, got 'both'"),
            std::string::npos);
  EXPECT_NE(with(OpKind::kRNN, "hidden_size", int64_t{0}).find("hidden_size must be positive, got 0"),
            std::string::npos);
  EXPECT_NE(with(OpKind::kLSTM, "layout", int64_t{2}).find("layout must be 0 or 1, got 2"), std::string::npos);
  EXPECT_NE(with(OpKind::kGRU, "clip", -1.f).find("clip must be positive"), std::string::npos);
  EXPECT_NE(with(OpKind::kGRU, "linear_before_reset", int64_t{3}).find("linear_before_reset must be 0 or 1; got 3"),
            std::string::npos);
  EXPECT_NE(with(OpKind::kLSTM, "input_forget", int64_t{-1}).find("input_forget must be 0 or 1; got -1"),
            std::string::npos);
  EXPECT_NE(with(OpKind::kLSTM, "activations", std::vector<std::string>{"Sigmoid", "Tanh"})
                .find("activations must list 3 functions, got 2"),
            std::string::npos);
  EXPECT_NE(with(OpKind::kRNN, "activations", std::vector<std::string>{"Gelu"}).find("activations: function 'Gelu'"),
            std::string::npos);
  EXPECT_NE(error_of(rnn(OpKind::kConv)).find("not a recurrent op"), std::string::npos);
}

}  // namespace
}  // namespace kiln
