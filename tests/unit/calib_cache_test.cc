// The calibration cache (src/quant/calib/calib_cache.h): JSON round trip, strict reading, model mismatch.
#include "quant/calib/calib_cache.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace kiln::calib {
namespace {

CalibCache sample_cache() {
  CalibCache c;
  c.method = "percentile";
  c.percentile = 99.9;
  c.samples = 7;
  c.model_sha256 = std::string(64, 'a');
  c.tensors["conv/out:0"] = TensorRange{0.0123f, 17, -0.209, 2.927};
  c.tensors["relu"] = TensorRange{0.5f, 0, 0.0, 127.5};
  return c;
}

TEST(CalibCache, RoundTrip) {
  std::string path = (std::filesystem::temp_directory_path() / "kiln_calib_cache_test.json").string();
  ASSERT_TRUE(write_cache(path, sample_cache()).ok());
  auto back = read_cache(path);
  std::remove(path.c_str());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->method, "percentile");
  EXPECT_DOUBLE_EQ(back->percentile, 99.9);
  EXPECT_EQ(back->samples, 7);
  EXPECT_EQ(back->model_sha256, std::string(64, 'a'));
  ASSERT_EQ(back->tensors.size(), 2u);
  const TensorRange& r = back->tensors.at("conv/out:0");
  EXPECT_EQ(r.scale, 0.0123f);  // float -> JSON -> float is exact
  EXPECT_EQ(r.zero_point, 17);
  EXPECT_DOUBLE_EQ(r.min, -0.209);
  EXPECT_DOUBLE_EQ(r.max, 2.927);
}

TEST(CalibCache, AnotherModelIsRejected) {
  CalibCache c = sample_cache();
  Status st = check_cache_model(c, std::string(64, 'b'), "c.json", "m.onnx");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("another model"), std::string::npos);
  EXPECT_NE(st.message().find("c.json"), std::string::npos);
  EXPECT_TRUE(check_cache_model(c, std::string(64, 'a'), "c.json", "m.onnx").ok());
}

TEST(CalibCache, BadFilesFailWithAReason) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    auto r = cache_from_json(text, "x.json");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error("not json", "not a JSON object");
  expect_error(R"({"format": "other", "version": 1})", "kiln-calib");
  expect_error(R"({"format": "kiln-calib", "version": 2, "model": "a", "tensors": {}})", "version 2");
  expect_error(R"({"format": "kiln-calib", "version": 1, "tensors": {}})", "fingerprint");
  expect_error(R"({"format": "kiln-calib", "version": 1, "model": "a", "tensors": {"t": {"scale": 0, "zero_point": 0}}})",
               "positive");
  expect_error(R"({"format": "kiln-calib", "version": 1, "model": "a", "tensors": {"t": {"scale": 1, "zero_point": 300}}})",
               "0..255");
  expect_error(R"({"format": "kiln-calib", "version": 1, "model": "a", "tensors": {"t": {"scale": "1"}}})", "'t'");
}

}  // namespace
}  // namespace kiln::calib
