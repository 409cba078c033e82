// Engine file format: serialize/from_bytes round trip, and every truncation or corruption fails cleanly.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "kiln/engine.h"
#include "runtime/format/engine_file.h"
#include "unit_model_util.h"

namespace kiln {
namespace {

using namespace kiln_unit;

// y = Relu(x @ W + b), with x[batch,3]; a second output z = Shape(x).
std::shared_ptr<Engine> build_small_engine(const TempDir& dir) {
  onnx::ModelProto m = make_model(17);
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {-1, 3}, {"batch"});
  add_float_initializer(g, "W", {3, 2}, {0.5f, -1.f, 2.f, 0.25f, -0.75f, 1.5f});
  add_float_initializer(g, "b", {2}, {0.1f, -0.2f});
  add_node(g, "MatMul", {"x", "W"}, {"h"});
  add_node(g, "Add", {"h", "b"}, {"hb"});
  add_node(g, "Relu", {"hb"}, {"y"});
  add_node(g, "Shape", {"x"}, {"z"});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {-1, 2}, {"batch"});
  add_value(g->mutable_output(), "z", onnx::TensorProto::INT64, {2});
  std::string path = (dir.path / "small.onnx").string();
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  BuildOptions opts;
  OptimizationProfile prof;
  prof.inputs["x"] = ShapeRange{{1, 3}, {2, 3}, {8, 3}};
  opts.profiles.push_back(prof);
  auto e = Engine::build_from_onnx(path, opts);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? *e : nullptr;
}

NamedValues sample_inputs() {
  Tensor x = Tensor::from_vector<float>(DType::kFloat32, {2, 3}, {1.f, 2.f, 3.f, -4.f, 0.5f, 6.f});
  return {{"x", Value::of(x)}};
}

TEST(EngineFormat, RoundTripGivesIdenticalOutputs) {
  TempDir dir;
  auto engine = build_small_engine(dir);
  ASSERT_NE(engine, nullptr);
  auto bytes = engine->serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  ASSERT_TRUE(looks_like_engine(*bytes));
  auto loaded = Engine::from_bytes(*bytes, "mem.kiln");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();

  EXPECT_EQ((*loaded)->info().backend, engine->info().backend);
  EXPECT_EQ((*loaded)->info().source, engine->info().source);
  EXPECT_EQ((*loaded)->weight_bytes(), engine->weight_bytes());
  ASSERT_EQ((*loaded)->inputs().size(), 1u);
  EXPECT_EQ((*loaded)->inputs()[0].to_string(), engine->inputs()[0].to_string());
  ASSERT_EQ((*loaded)->profiles().size(), 1u);
  EXPECT_EQ((*loaded)->profiles()[0].inputs.at("x").max, (Dims{8, 3}));

  NamedValues a, b;
  ASSERT_TRUE(engine->create_context()->run(sample_inputs(), &a).ok());
  Status st = (*loaded)->create_context()->run(sample_inputs(), &b);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    const Tensor &ta = a[i].second.tensor, &tb = b[i].second.tensor;
    ASSERT_EQ(ta.dtype(), tb.dtype());
    ASSERT_EQ(ta.dims(), tb.dims());
    ASSERT_EQ(ta.nbytes(), tb.nbytes());
    EXPECT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << "output " << a[i].first;
  }
  // Serializing the loaded engine reproduces the same bytes.
  auto again = (*loaded)->serialize();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *bytes);

  // Through a file (mmap path) too.
  std::string path = (dir.path / "small.kiln").string();
  ASSERT_TRUE(engine->save(path).ok());
  auto from_file = Engine::load(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status().message();
  NamedValues c;
  ASSERT_TRUE((*from_file)->create_context()->run(sample_inputs(), &c).ok());
  EXPECT_EQ(std::memcmp(c[0].second.tensor.raw(), a[0].second.tensor.raw(), a[0].second.tensor.nbytes()), 0);
}

TEST(EngineFormat, EveryTruncationFailsCleanly) {
  TempDir dir;
  auto engine = build_small_engine(dir);
  ASSERT_NE(engine, nullptr);
  auto bytes = engine->serialize();
  ASSERT_TRUE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); ++len) {
    auto r = Engine::from_bytes(bytes->substr(0, len), "cut.kiln");
    ASSERT_FALSE(r.ok()) << "truncated to " << len << " bytes was accepted";
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("cut.kiln", 0), 0u) << msg;
  }
}

TEST(EngineFormat, TruncationWithFixedHeaderFailsCleanly) {
  // Cut the file and patch its header's size and checksum so the decoder itself meets the short data.
  TempDir dir;
  auto engine = build_small_engine(dir);
  ASSERT_NE(engine, nullptr);
  std::string bytes = *engine->serialize();
  uint64_t weights_offset;
  std::memcpy(&weights_offset, bytes.data() + 32, 8);
  for (size_t len = kEngineHeaderSize; len < bytes.size(); ++len) {
    std::string cut = bytes.substr(0, len);
    uint64_t n = len, h = 1469598103934665603ull;
    for (size_t i = kEngineHeaderSize; i < len; ++i) {
      h ^= static_cast<uint8_t>(cut[i]);
      h *= 1099511628211ull;
    }
    std::memcpy(&cut[16], &n, 8);
    std::memcpy(&cut[24], &h, 8);
    auto r = Engine::from_bytes(cut, "cut.kiln");
    if (len < weights_offset) EXPECT_FALSE(r.ok()) << len;
    // Past the metadata only padding/weights are cut: must fail (weights out of range) or be fully valid.
    if (r.ok()) EXPECT_EQ((*r)->weight_bytes(), engine->weight_bytes());
  }
}

TEST(EngineFormat, CorruptForeignAndNewerFilesRejected) {
  TempDir dir;
  auto engine = build_small_engine(dir);
  ASSERT_NE(engine, nullptr);
  std::string bytes = *engine->serialize();

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  auto r = Engine::from_bytes(flipped, "flip.kiln");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status().message();

  std::string png = "\x89PNG\r\n\x1a\n" + std::string(200, '\0');
  r = Engine::from_bytes(png, "pic.png");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pic.png"), std::string::npos);

  std::string newer = bytes;
  uint32_t v = 99;
  std::memcpy(&newer[8], &v, 4);
  r = Engine::from_bytes(newer, "new.kiln");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("99"), std::string::npos) << r.status().message();

  std::string padded = bytes + std::string(64, '\0');
  EXPECT_FALSE(Engine::from_bytes(padded, "pad.kiln").ok());
}

}  // namespace
}  // namespace kiln
