// Helpers shared by the fused ops' kernel and inference tests: run a kernel or an inference function, random
// tensors, independent scalar formulas for the activations, and layout transposes written out by hand.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ir/shape_inference.h"
#include "tests/ops/kernel_test_util.h"

namespace fused_test {

using kiln::Attrs;
using kiln::Dim;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Shape;
using kiln::Tensor;
using kiln::TypeInfo;

inline kiln::Result<Tensor> run1(OpKind op, const std::vector<Tensor>& inputs, Attrs attrs = {}) {
  auto r = kiln::run_reference_kernel(op, inputs, std::move(attrs), 1, 1);
  if (!r.ok()) return r.status();
  return r.value()[0];
}

inline Tensor f32(Dims dims, std::vector<float> v) {
  return Tensor::from_vector<float>(DType::kFloat32, std::move(dims), v);
}

// Uniform values in [lo, hi) from a fixed seed.
inline Tensor random_f32(Dims dims, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  Tensor t(DType::kFloat32, std::move(dims));
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(gen);
  return t;
}

inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
  return v;
}

inline void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.dims(), want.dims());
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_NEAR(got.as_double(i), want.as_double(i), tol * (1.0 + std::fabs(want.as_double(i)))) << "element " << i;
}

// 4-D transposes by explicit loops (independent of the kernels' own layout code).
inline Tensor nchw_to_nhwc(const Tensor& t) {
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  Tensor o(DType::kFloat32, {n, h, w, c});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          o.data<float>()[((a * h + y) * w + x) * c + b] = t.data<float>()[((a * c + b) * h + y) * w + x];
  return o;
}
inline Tensor nhwc_to_nchw(const Tensor& t) {
  const int64_t n = t.dim(0), h = t.dim(1), w = t.dim(2), c = t.dim(3);
  Tensor o(DType::kFloat32, {n, c, h, w});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          o.data<float>()[((a * c + b) * h + y) * w + x] = t.data<float>()[((a * h + y) * w + x) * c + b];
  return o;
}

// The activations of docs/fused-ops.md, written out independently of the kernels.
inline double act_formula(const std::string& name, double x, double alpha, double beta) {
  const double pi = 3.14159265358979323846;
  if (name.empty()) return x;
  if (name == "Relu") return std::max(x, 0.0);
  if (name == "LeakyRelu") return x < 0 ? alpha * x : x;
  if (name == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (name == "Tanh") return std::tanh(x);
  if (name == "Clip") return std::min(std::max(x, alpha), beta);
  if (name == "Silu") return x / (1.0 + std::exp(-x));
  if (name == "Gelu") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  if (name == "GeluTanh") return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
  if (name == "HardSigmoid") return std::max(0.0, std::min(1.0, alpha * x + beta));
  if (name == "HardSwish") return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5));
  ADD_FAILURE() << "no formula for activation " << name;
  return 0;
}

struct ActCase {
  std::string name;
  float alpha = 0.f, beta = 0.f;
};
// Every activation, with non-default parameters where it takes them.
inline std::vector<ActCase> all_activations() {
  return {{"", 0, 0},           {"Relu", 0, 0}, {"LeakyRelu", 0.1f, 0}, {"Sigmoid", 0, 0},  {"Tanh", 0, 0},
          {"Clip", -0.5f, 1.f}, {"Silu", 0, 0}, {"Gelu", 0, 0},         {"GeluTanh", 0, 0}, {"HardSigmoid", 0.3f, 0.4f},
          {"HardSwish", 0, 0}};
}
inline void set_act(Attrs& a, const ActCase& c) {
  a.set("activation", c.name);
  if (c.name == "LeakyRelu" || c.name == "Clip" || c.name == "HardSigmoid") a.set("activation_alpha", c.alpha);
  if (c.name == "Clip" || c.name == "HardSigmoid") a.set("activation_beta", c.beta);
}

struct Inferred {
  kiln::Status status;
  std::vector<TypeInfo> outputs;
};
inline Inferred infer(OpKind op, std::vector<TypeInfo> types, Attrs attrs = {}) {
  kiln::Node node;
  node.op = op;
  node.name = "n";
  node.attrs = std::move(attrs);
  node.opset = 1;
  for (size_t i = 0; i < types.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  node.outputs.push_back("out0");
  std::vector<const Tensor*> values(types.size(), nullptr);
  kiln::InferContext ctx(node, types, values, nullptr);
  Inferred r;
  r.status = kiln::infer_registry().find(op)(ctx);
  r.outputs = ctx.output_types();
  return r;
}
inline TypeInfo ty(DType dt, std::vector<Dim> dims) { return TypeInfo::tensor(dt, Shape::of_dims(std::move(dims))); }
inline Dim k(int64_t v) { return Dim::known(v); }
inline Dim sym(const char* s) { return Dim::named(s); }

}  // namespace fused_test
