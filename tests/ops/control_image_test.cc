// Tests of the control family's ImageDecoder kernel on hand-built PNM and BMP images.
#include <gtest/gtest.h>

#include <string>

#include "backends/reference/kernel.h"

namespace {

using kiln::Attrs;
using kiln::Dims;
using kiln::DType;
using kiln::OpKind;
using kiln::Tensor;

kiln::Result<Tensor> decode(const std::string& bytes, const std::string& format) {
  kiln::Node node;
  node.op = OpKind::kImageDecoder;
  node.name = "n";
  node.attrs.set("pixel_format", format);
  node.opset = 20;
  node.inputs = {"in"};
  node.outputs = {"out"};
  Tensor t(DType::kUInt8, {static_cast<int64_t>(bytes.size())});
  for (size_t i = 0; i < bytes.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(bytes[i]);
  kiln::Value v = kiln::Value::of(t);
  kiln::KernelContext ctx(node, {&v}, nullptr);
  KILN_RETURN_IF_ERROR(kiln::reference_kernels().find(OpKind::kImageDecoder)(ctx));
  return ctx.outputs()[0].tensor;
}

std::vector<int> bytes_of(const Tensor& t) { return std::vector<int>(t.data<uint8_t>(), t.data<uint8_t>() + t.numel()); }

TEST(ControlImageDecoder, PnmRgbBgrGray) {
  // 2x1 P6 image: red, then (10, 20, 30). Header with a comment line.
  const std::string ppm = std::string("P6\n# c\n2 1\n255\n") + std::string("\xFF\x00\x00\x0A\x14\x1E", 6);
  auto rgb = decode(ppm, "RGB");
  ASSERT_TRUE(rgb.ok()) << rgb.status().message();
  EXPECT_EQ(rgb->dims(), (Dims{1, 2, 3}));
  EXPECT_EQ(bytes_of(*rgb), (std::vector<int>{255, 0, 0, 10, 20, 30}));
  auto bgr = decode(ppm, "BGR");
  ASSERT_TRUE(bgr.ok());
  EXPECT_EQ(bytes_of(*bgr), (std::vector<int>{0, 0, 255, 30, 20, 10}));
  auto gray = decode(ppm, "Grayscale");
  ASSERT_TRUE(gray.ok());
  EXPECT_EQ(gray->dims(), (Dims{1, 2, 1}));
  EXPECT_EQ(bytes_of(*gray), (std::vector<int>{76, 18}));  // 0.299 * 255, 0.299*10 + 0.587*20 + 0.114*30
}

TEST(ControlImageDecoder, BottomUpBmp) {
  // 1x2 24-bit BMP, rows stored bottom-up, each padded to 4 bytes.
  std::string bmp(54, '\0');
  auto put32 = [&](size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) bmp[off + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  bmp[0] = 'B', bmp[1] = 'M';
  put32(10, 54);
  put32(14, 40);
  put32(18, 1);
  put32(22, 2);
  bmp[26] = 1, bmp[28] = 24;
  bmp += std::string("\x03\x02\x01\x00", 4);  // bottom row: B=3 G=2 R=1
  bmp += std::string("\x06\x05\x04\x00", 4);  // top row
  auto r = decode(bmp, "RGB");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->dims(), (Dims{2, 1, 3}));
  EXPECT_EQ(bytes_of(*r), (std::vector<int>{4, 5, 6, 1, 2, 3}));
}

TEST(ControlImageDecoder, RejectsBadInput) {
  EXPECT_FALSE(decode("P6\n2 1\n255\n\x01", "RGB").ok());  // truncated pixels
  EXPECT_FALSE(decode("hello", "RGB").ok());                // unknown format
  EXPECT_FALSE(decode("P6\n1 1\n255\n\x01\x02\x03", "CMYK").ok());
  EXPECT_FALSE(decode("\xFF\xD8\xFF\xE0garbage", "RGB").ok());  // broken JPEG (or no libjpeg)
}

}  // namespace
