// The hand-written plain <-> channels-last reorders (src/backends/cpu/onednn/layout_reorder.h) must give oneDNN's
// reorder bits for float32 and bf16 either way, on shapes whose channel and pixel counts are and are not multiples
// of the 16x16 tiles, with NaN, infinities and values that round to even, on 1 and 2 threads; and must decline
// layouts they do not handle.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/layout_reorder.h"

namespace kiln::cpu::onednn {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

tag plain_tag(size_t r) { return r == 3 ? tag::abc : r == 4 ? tag::abcd : tag::abcde; }
tag last_tag(size_t r) { return r == 3 ? tag::acb : r == 4 ? tag::acdb : tag::acdeb; }

// Random float32 values (with a NaN, both infinities and ties that round to even in bf16), stored as `t`.
std::vector<char> random_bytes(int64_t n, dt t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 3.f);
  std::vector<float> f(static_cast<size_t>(n));
  for (auto& v : f) v = d(rng);
  if (n > 3) {
    f[1] = std::numeric_limits<float>::quiet_NaN();
    f[2] = std::numeric_limits<float>::infinity();
    f[3] = -std::numeric_limits<float>::infinity();
  }
  if (n > 5) {
    uint32_t tie = 0x3F808000u;  // 1.00390625: exactly halfway between two bf16 values
    std::memcpy(&f[4], &tie, 4);
    tie = 0x3F818000u;
    std::memcpy(&f[5], &tie, 4);
  }
  std::vector<char> out(static_cast<size_t>(n) * (t == dt::f32 ? 4 : 2));
  for (int64_t i = 0; i < n; ++i) {
    if (t == dt::f32) {
      std::memcpy(out.data() + i * 4, &f[i], 4);
    } else {
      uint32_t b;
      std::memcpy(&b, &f[i], 4);
      const uint16_t h = static_cast<uint16_t>(b >> 16);
      std::memcpy(out.data() + i * 2, &h, 2);
    }
  }
  return out;
}

// NaN-aware byte comparison of two buffers of type t (NaNs compare equal whatever their payload).
void expect_same(const std::vector<char>& a, const std::vector<char>& b, dt t, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  const size_t es = t == dt::f32 ? 4 : 2;
  int bad = 0;
  for (size_t i = 0; i < a.size() / es && bad < 5; ++i) {
    uint32_t x = 0, y = 0;
    std::memcpy(&x, a.data() + i * es, es);
    std::memcpy(&y, b.data() + i * es, es);
    if (x == y) continue;
    const bool nx = es == 4 ? (x & 0x7fffffffu) > 0x7f800000u : (x & 0x7fffu) > 0x7f80u;
    const bool ny = es == 4 ? (y & 0x7fffffffu) > 0x7f800000u : (y & 0x7fffu) > 0x7f80u;
    if (nx && ny) continue;
    ADD_FAILURE() << what << ": element " << i << " is 0x" << std::hex << x << ", oneDNN gives 0x" << y;
    ++bad;
  }
}

// `src` (described by fd) reordered into td by oneDNN and by layout_reorder on 1 and 2 threads: the same bits.
void check_against_onednn(std::vector<char>& src, const dnnl::memory::desc& fd, const dnnl::memory::desc& td, dt to_t,
                          const std::string& what) {
  std::vector<char> want(td.get_size()), got(td.get_size());
  dnnl::memory from(fd, engine(), src.data());
  dnnl::memory ref(td, engine(), want.data());
  dnnl::reorder(from, ref).execute(stream(), from, ref);
  stream().wait();
  for (int threads : {1, 2}) {
    std::fill(got.begin(), got.end(), char(0x55));
    dnnl::memory mine(td, engine(), got.data());
    const std::string where = what + " threads " + std::to_string(threads);
    ASSERT_TRUE(layout_reorder(from, mine, threads)) << where;
    expect_same(got, want, to_t, where);
  }
}

TEST(CpuLayoutReorder, MatchesOnednnBothWaysAndTypes) {
  const std::vector<dnnl::memory::dims> shapes = {
      {1, 58, 28, 28}, {2, 16, 4, 4}, {1, 19, 7, 5}, {3, 17, 1, 33}, {1, 16, 9, 9}, {2, 40, 3, 2, 5}, {1, 33, 19}};
  for (const auto& dims : shapes) {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    for (dt from_t : {dt::f32, dt::bf16})
      for (dt to_t : {dt::f32, dt::bf16})
        for (int dir = 0; dir < 4; ++dir) {
          const tag ft = dir == 0 || dir == 2 ? plain_tag(dims.size()) : last_tag(dims.size());
          const tag tt = dir == 0 || dir == 3 ? last_tag(dims.size()) : plain_tag(dims.size());
          std::vector<char> src = random_bytes(n, from_t, static_cast<uint32_t>(n + dir));
          check_against_onednn(src, dnnl::memory::desc(dims, from_t, ft), dnnl::memory::desc(dims, to_t, tt), to_t,
                               "dims " + std::to_string(dims.size()) + "-D n=" + std::to_string(n) + " dir " +
                                   std::to_string(dir) + " types " + std::to_string(int(from_t)) + "->" +
                                   std::to_string(int(to_t)));
        }
  }
}

// 1-4 float32 planes (an RGB image) into channels-last float32 or bf16: pixel counts around the 16-pixel vectors and
// the 256-pixel work items, several images, 1 and 2 threads.
TEST(CpuLayoutReorder, InterleavesFewPlanesLikeOnednn) {
  for (int64_t c : {1, 2, 3, 4})
    for (const auto& hw : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {4, 4}, {17, 19}, {32, 9}})
      for (int64_t n : {1, 3})
        for (dt to_t : {dt::f32, dt::bf16}) {
          const dnnl::memory::dims dims{n, c, hw.first, hw.second};
          const int64_t total = n * c * hw.first * hw.second;
          std::vector<char> src = random_bytes(total, dt::f32, static_cast<uint32_t>(total + c));
          check_against_onednn(src, dnnl::memory::desc(dims, dt::f32, tag::abcd), dnnl::memory::desc(dims, to_t, tag::acdb),
                               to_t, "C" + std::to_string(c) + " " + std::to_string(hw.first) + "x" +
                                         std::to_string(hw.second) + " N" + std::to_string(n) + " to " +
                                         (to_t == dt::f32 ? "f32" : "bf16"));
        }
}

TEST(CpuLayoutReorder, DeclinesOtherLayouts) {
  const dnnl::memory::dims d{1, 32, 4, 4};
  std::vector<char> a(32 * 16 * 4 * 2), b(a.size());
  auto mem = [&](const dnnl::memory::desc& md, std::vector<char>& buf) { return dnnl::memory(md, engine(), buf.data()); };
  // Blocked channels, int8, different dims, a 2-D tensor, and layout changes of fewer than 16 channels other than
  // float32 planes into channels-last (bf16 planes, 5 planes, channels-last back to plain) stay with oneDNN.
  EXPECT_FALSE(layout_reorder(mem({d, dt::f32, tag::abcd}, a), mem({d, dt::f32, tag::aBcd16b}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({d, dt::s8, tag::abcd}, a), mem({d, dt::s8, tag::acdb}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({d, dt::f32, tag::abcd}, a), mem({{1, 32, 4, 2}, dt::f32, tag::acdb}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({{32, 16}, dt::f32, tag::ab}, a), mem({{32, 16}, dt::bf16, tag::ab}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({{1, 3, 8, 8}, dt::bf16, tag::abcd}, a), mem({{1, 3, 8, 8}, dt::bf16, tag::acdb}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({{1, 5, 8, 8}, dt::f32, tag::abcd}, a), mem({{1, 5, 8, 8}, dt::bf16, tag::acdb}, b), 1));
  EXPECT_FALSE(layout_reorder(mem({{1, 3, 8, 8}, dt::f32, tag::acdb}, a), mem({{1, 3, 8, 8}, dt::f32, tag::abcd}, b), 1));
  EXPECT_TRUE(layout_reorder(mem({{1, 3, 8, 8}, dt::f32, tag::abcd}, a), mem({{1, 3, 8, 8}, dt::bf16, tag::acdb}, b), 1));
  EXPECT_TRUE(layout_reorder(mem({{1, 3, 8, 8}, dt::f32, tag::acdb}, a), mem({{1, 3, 8, 8}, dt::bf16, tag::acdb}, b), 1));
}

}  // namespace
}  // namespace kiln::cpu::onednn
