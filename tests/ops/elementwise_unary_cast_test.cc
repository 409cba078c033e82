// Tests of the Cast/CastLike reference kernels and their element conversion table.
#include <limits>

#include "backends/reference/elementwise_unary/cast_convert.h"
#include "core/float_formats.h"
#include "elementwise_unary_test_util.h"

namespace kiln::unary_test {
namespace {

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();

OpRun cast(const Tensor& x, DType to, int64_t saturate = 1, const std::string& round_mode = "") {
  Attrs a;
  a.set("to", static_cast<int64_t>(to));
  a.set("saturate", saturate);
  if (!round_mode.empty()) a.set("round_mode", round_mode);
  return run_op(OpKind::kCast, {x}, a);
}

// Integer values, or the raw codes of the one-byte float formats.
std::vector<int> codes(const Tensor& t) {
  std::vector<int> v;
  const bool raw = is_float(t.dtype()) && dtype_size(t.dtype()) == 1;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(raw ? t.data<uint8_t>()[i] : static_cast<int>(t.as_int64(i)));
  return v;
}

Tensor strings(Dims dims, std::vector<std::string> v) {
  Tensor t(DType::kString, dims);
  for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
  return t;
}

TEST(ElementwiseUnaryCast, FloatToSubByteIntegersWrap) {
  Tensor x = f32({5}, {-9.f, -8.f, 7.f, 8.f, 15.f});
  OpRun r = cast(x, DType::kInt4);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.out().dtype(), DType::kInt4);
  EXPECT_EQ(codes(r.out()), (std::vector<int>{7, -8, 7, -8, -1}));
  EXPECT_EQ(codes(cast(x, DType::kUInt4).out()), (std::vector<int>{7, 8, 7, 8, 15}));
  Tensor y = f32({4}, {-3.f, -2.f, 2.f, 3.f});
  EXPECT_EQ(codes(cast(y, DType::kInt2).out()), (std::vector<int>{1, -2, -2, -1}));
  EXPECT_EQ(codes(cast(y, DType::kUInt2).out()), (std::vector<int>{1, 2, 2, 3}));
  // int4 -> int8 sign-extends; uint4 -> uint8 keeps the code.
  Tensor i4 = Tensor::from_vector<int8_t>(DType::kInt4, {2}, {-8, 7});
  EXPECT_EQ(codes(cast(i4, DType::kInt8).out()), (std::vector<int>{-8, 7}));
}

TEST(ElementwiseUnaryCast, IntegerWrapAndBool) {
  Tensor x = Tensor::from_vector<int16_t>(DType::kInt16, {4}, {200, -1, 0, 300});
  EXPECT_EQ(codes(cast(x, DType::kInt8).out()), (std::vector<int>{-56, -1, 0, 44}));
  EXPECT_EQ(codes(cast(x, DType::kUInt8).out()), (std::vector<int>{200, 255, 0, 44}));
  EXPECT_EQ(codes(cast(x, DType::kBool).out()), (std::vector<int>{1, 1, 0, 1}));
  Tensor f = f32({4}, {-0.0f, 0.5f, kNaNf, -2.7f});
  EXPECT_EQ(codes(cast(f, DType::kBool).out()), (std::vector<int>{0, 1, 1, 1}));
  EXPECT_EQ(codes(cast(f, DType::kInt32).out()), (std::vector<int>{0, 0, 0, -2}));
  Tensor u64 = Tensor::from_vector<uint64_t>(DType::kUInt64, {1}, {~uint64_t{0}});
  OpRun d = cast(u64, DType::kFloat64);
  EXPECT_EQ(d.out().data<double>()[0], 18446744073709551616.0);
  EXPECT_EQ(cast(d.out(), DType::kUInt64).out().data<uint64_t>()[0], uint64_t{1} << 63);  // 2^64: out of range
  Tensor big = f64({1}, {9007199254740993.0 * 1024});
  EXPECT_EQ(cast(big, DType::kUInt64).out().data<uint64_t>()[0], uint64_t{9007199254740992} * 1024);
}

TEST(ElementwiseUnaryCast, FloatWidths) {
  Tensor x = f32({4}, {0.47892547f, kNaNf, kInff, -kInff});
  OpRun h = cast(x, DType::kFloat16);
  EXPECT_EQ(h.out().data<uint16_t>()[0], float_to_half(0.47892547f));
  EXPECT_EQ(h.out().data<uint16_t>()[2], 0x7c00);
  OpRun b = cast(x, DType::kBFloat16);
  EXPECT_EQ(b.out().data<uint16_t>()[0], 0x3ef5);  // 0.47892547 = 0x3EF5358A rounds down
  EXPECT_EQ(b.out().data<uint16_t>()[3], 0xff80);
  OpRun back = cast(b.out(), DType::kFloat64);
  EXPECT_EQ(back.out().dtype(), DType::kFloat64);
  EXPECT_TRUE(std::isnan(back.out().data<double>()[1]));
  // double -> float16 rounds once: just above the midpoint between 1 and 1 + 2^-10 rounds up
  // (a float32 detour would land on the midpoint and round to even, down to 1).
  Tensor d = f64({1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  EXPECT_EQ(cast(d, DType::kFloat16).out().data<uint16_t>()[0], 0x3c01);
  // int64 -> bfloat16 likewise: 2^60 + 2^52 + 1 is above the bf16 midpoint 2^60 + 2^52.
  Tensor i = i64({1}, {(int64_t{1} << 60) + (int64_t{1} << 52) + 1});
  EXPECT_EQ(cast(i, DType::kBFloat16).out().data<uint16_t>()[0], float_to_bf16(std::ldexp(1.0f, 60)) + 1);
}

TEST(ElementwiseUnaryCast, Float8SaturateAndNot) {
  Tensor x = f32({6}, {0.47892547f, 1000000.f, kNaNf, kInff, -kInff, -1e-7f});
  EXPECT_EQ(codes(cast(x, DType::kFloat8E4M3FN).out()), (std::vector<int>{0x2f, 0x7e, 0x7f, 0x7e, 0xfe, 0x80}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E4M3FN, 0).out()), (std::vector<int>{0x2f, 0x7f, 0x7f, 0x7f, 0xff, 0x80}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E4M3FNUZ).out()), (std::vector<int>{0x37, 0x7f, 0x80, 0x7f, 0xff, 0x00}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E4M3FNUZ, 0).out()), (std::vector<int>{0x37, 0x80, 0x80, 0x80, 0x80, 0x00}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E5M2).out()), (std::vector<int>{0x38, 0x7b, 0x7e, 0x7b, 0xfb, 0x80}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E5M2, 0).out()), (std::vector<int>{0x38, 0x7c, 0x7e, 0x7c, 0xfc, 0x80}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E5M2FNUZ, 0).out()), (std::vector<int>{0x3c, 0x80, 0x80, 0x80, 0x80, 0x00}));
  // fp8 -> float16 decodes exactly.
  OpRun h = cast(u8(DType::kFloat8E4M3FN, {2}, {0x7e, 0xb8}), DType::kFloat16);
  expect_close(h.out(), {448, -1});
}

TEST(ElementwiseUnaryCast, Float4) {
  Tensor x = f32({9}, {0.48f, 0.25f, 1.05f, -3.5f, 9.f, kNaNf, -kInff, 0.01f, -0.0f});
  OpRun r = cast(x, DType::kFloat4E2M1);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(codes(r.out()), (std::vector<int>{0x1, 0x0, 0x2, 0xe, 0x7, 0x8, 0xf, 0x0, 0x8}));
  expect_close(cast(r.out(), DType::kFloat32).out(), {0.5, 0, 1, -4, 6, 0, -6, 0, 0});
}

TEST(ElementwiseUnaryCast, Float8E8M0RoundModes) {
  Tensor x = f32({6}, {0.f, 0.124f, 0.25f, 1.1f, 1.5f, 3.5f});
  EXPECT_EQ(codes(cast(x, DType::kFloat8E8M0, 1, "up").out()), (std::vector<int>{0, 124, 125, 128, 128, 129}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E8M0, 1, "down").out()), (std::vector<int>{0, 123, 125, 127, 127, 128}));
  EXPECT_EQ(codes(cast(x, DType::kFloat8E8M0, 0, "nearest").out()), (std::vector<int>{255, 124, 125, 127, 128, 129}));
  EXPECT_EQ(codes(cast(f32({2}, {kInff, 1e38f * 3}), DType::kFloat8E8M0, 1).out()), (std::vector<int>{254, 254}));
  EXPECT_EQ(codes(cast(f32({2}, {kInff, kNaNf}), DType::kFloat8E8M0, 0).out()), (std::vector<int>{255, 255}));
  expect_close(cast(u8(DType::kFloat8E8M0, {3}, {127, 0, 255}), DType::kFloat32).out(),
               {1, std::ldexp(1.0, -127), std::numeric_limits<double>::quiet_NaN()});
  EXPECT_FALSE(cast(x, DType::kFloat8E8M0, 1, "sideways").status.ok());
}

TEST(ElementwiseUnaryCast, FloatToStringNumpyStyle) {
  Tensor x = f32({8}, {0.47892547f, 1e-7f, 1000000.f, kNaNf, kInff, -kInff, -0.0f, 1.5e16f});
  OpRun r = cast(x, DType::kString);
  ASSERT_TRUE(r.status.ok());
  const std::string* s = r.out().strings();
  std::vector<std::string> got(s, s + 8);
  EXPECT_EQ(got, (std::vector<std::string>{"0.47892547", "1e-07", "1e+06", "nan", "inf", "-inf", "-0.0", "1.5e+16"}));
  EXPECT_EQ(cast(f32({2}, {999999.94f, 1e6f}), DType::kString).out().strings()[1], "1e+06");
  EXPECT_EQ(cast(f64({2}, {0.1, 123.25}), DType::kString).out().strings()[0], "0.1");
  EXPECT_EQ(cast(f64({2}, {0.1, 123.25}), DType::kString).out().strings()[1], "123.25");
  Tensor h(DType::kFloat16, {1});
  h.data<uint16_t>()[0] = float_to_half(0.47892547f);
  EXPECT_EQ(cast(h, DType::kString).out().strings()[0], "0.479");
  EXPECT_EQ(cast(i64({2}, {-5, 12}), DType::kString).out().strings()[0], "-5");
  EXPECT_EQ(cast(u8(DType::kBool, {1}, {1}), DType::kString).out().strings()[0], "True");
}

TEST(ElementwiseUnaryCast, StringToNumbers) {
  Tensor s = strings({6}, {"0.47892547", "NaN", "INF", "+INF", "-inf", "1e-5"});
  OpRun r = cast(s, DType::kFloat32);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.out(), {0.47892547f, std::numeric_limits<double>::quiet_NaN(), HUGE_VAL, HUGE_VAL, -HUGE_VAL, 1e-5f});
  EXPECT_EQ(r.out().data<float>()[0], 0.47892547f);
  EXPECT_EQ(codes(cast(strings({3}, {"100.5", "-7", " 42 "}), DType::kInt32).out()), (std::vector<int>{100, -7, 42}));
  EXPECT_EQ(cast(strings({1}, {"18446744073709551615"}), DType::kUInt64).out().data<uint64_t>()[0], ~uint64_t{0});
  EXPECT_EQ(codes(cast(strings({3}, {"True", "false", "0"}), DType::kBool).out()), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(cast(strings({1}, {"abc"}), DType::kString).out().strings()[0], "abc");
  OpRun bad = cast(strings({2}, {"1", "Hello World!"}), DType::kFloat32);
  EXPECT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("Hello"), std::string::npos);
}

TEST(ElementwiseUnaryCast, CastLikeAndErrors) {
  Tensor x = f32({2, 1}, {1.5f, -2.5f});
  OpRun r = run_op(OpKind::kCastLike, {x, i64({0}, {})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().dtype(), DType::kInt64);
  EXPECT_EQ(r.out().dims(), (Dims{2, 1}));
  EXPECT_EQ(codes(r.out()), (std::vector<int>{1, -2}));
  EXPECT_FALSE(run_op(OpKind::kCastLike, {x}).status.ok());  // missing target_type
  EXPECT_FALSE(run_op(OpKind::kCast, {x}).status.ok());      // missing 'to'
  Attrs bad;
  bad.set("to", int64_t{99});
  EXPECT_FALSE(run_op(OpKind::kCast, {x}, bad).status.ok());
  EXPECT_FALSE(cast(x, DType::kComplex64).status.ok());
}

// Every ordered pair of supported dtypes converts (a value that every type can hold round-trips).
TEST(ElementwiseUnaryCast, EveryPairConverts) {
  for (int from = 1; from <= kMaxDType; ++from) {
    DType f = static_cast<DType>(from);
    if (!cast_supports(f)) continue;
    Tensor one = cast(f32({1}, {1.0f}), f).out();
    ASSERT_TRUE(one.defined()) << dtype_name(f);
    for (int to = 1; to <= kMaxDType; ++to) {
      DType t = static_cast<DType>(to);
      if (!cast_supports(t)) continue;
      OpRun r = cast(one, t);
      ASSERT_TRUE(r.status.ok()) << dtype_name(f) << " -> " << dtype_name(t) << ": " << r.status.to_string();
      OpRun back = cast(r.out(), DType::kFloat32);
      ASSERT_TRUE(back.status.ok()) << dtype_name(f) << " -> " << dtype_name(t) << ": " << back.status.to_string();
      EXPECT_EQ(back.out().data<float>()[0], 1.0f) << dtype_name(f) << " -> " << dtype_name(t);
    }
  }
}

}  // namespace
}  // namespace kiln::unary_test
