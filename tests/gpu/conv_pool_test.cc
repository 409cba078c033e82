// CUDA pooling kernels (MaxPool, AveragePool, global pools; NCHW and layout=NHWC) against the reference backend.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tolerance tol_for(DType t) {
  if (t == DType::kFloat16) return {1e-2, 1e-2};
  if (t == DType::kBFloat16) return {3e-2, 3e-2};
  return {1e-4, 1e-5};
}

struct PoolCase {
  Dims x;  // as given to the node (channels-last when nhwc)
  Dims kernel, strides, pads, dilations;
  bool ceil_mode = false;
  bool count_include_pad = false;
  std::string auto_pad;
};

// The window attributes of a MaxPool/AveragePool node for case c.
Attrs pool_attrs(OpKind op, const PoolCase& c, bool nhwc) {
  Attrs a;
  a.set("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.pads.empty()) a.set("pads", c.pads);
  if (!c.dilations.empty()) a.set("dilations", c.dilations);
  if (!c.auto_pad.empty()) a.set("auto_pad", c.auto_pad);
  a.set("ceil_mode", int64_t{c.ceil_mode});
  if (op == OpKind::kAveragePool) a.set("count_include_pad", int64_t{c.count_include_pad});
  if (nhwc) a.set("layout", std::string("NHWC"));
  return a;
}

void check_pool(OpKind op, const PoolCase& c, bool nhwc, DType t, uint64_t seed) {
  const Attrs a = pool_attrs(op, c, nhwc);
  SCOPED_TRACE(std::string(op == OpKind::kMaxPool ? "MaxPool" : "AveragePool") + " X " + dims_to_string(c.x) +
               " kernel " + dims_to_string(c.kernel) + " ceil " + std::to_string(c.ceil_mode) + " include_pad " +
               std::to_string(c.count_include_pad) + (nhwc ? " NHWC " : " NCHW ") + dtype_name(t));
  Node node = make_test_node(op, 1, 1, a);
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, {random_tensor(t, c.x, seed)}, {}, &tol);
}

const std::vector<PoolCase>& cases() {
  static const std::vector<PoolCase> v{
      {{2, 8, 16, 16}, {2, 2}, {2, 2}},
      {{2, 8, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
      {{1, 4, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true},
      {{1, 4, 16, 15}, {3, 3}, {2, 2}, {0, 1, 1, 0}, {}, true, true},
      {{1, 4, 12, 12}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, false, true},
      {{1, 3, 13, 13}, {3, 3}, {2, 2}, {}, {}, false, false, "SAME_UPPER"},
      {{2, 5, 20}, {4}, {3}, {1, 2}, {}, true},
      {{1, 3, 6, 7, 8}, {2, 3, 2}, {2, 2, 2}, {0, 1, 0, 0, 1, 1}},
  };
  return v;
}

TEST(GpuPool, MaxAndAverageNchw) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3000;
  for (const PoolCase& c : cases()) {
    check_pool(OpKind::kMaxPool, c, false, DType::kFloat32, seed++);
    check_pool(OpKind::kAveragePool, c, false, DType::kFloat32, seed++);
  }
}

// MaxPool over 8-bit values (fold_qdq_moves moves it onto the quantized tensor): exact.
TEST(GpuPool, MaxPoolEightBit) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3500;
  for (DType t : {DType::kUInt8, DType::kInt8})
    for (const PoolCase& c : cases()) {
      const Attrs a = pool_attrs(OpKind::kMaxPool, c, false);
      SCOPED_TRACE("MaxPool X " + dims_to_string(c.x) + " " + dtype_name(t));
      const Tolerance exact{0.0, 0.0};
      const double lo = t == DType::kUInt8 ? 0 : -128, hi = t == DType::kUInt8 ? 255 : 127;
      expect_cuda_matches_reference(make_test_node(OpKind::kMaxPool, 1, 1, a), {random_tensor(t, c.x, seed++, lo, hi)},
                                    {}, &exact);
    }
}

TEST(GpuPool, MaxPoolDilations) {
  KILN_REQUIRE_GPU();
  PoolCase c{{1, 4, 15, 15}, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}};
  check_pool(OpKind::kMaxPool, c, false, DType::kFloat32, 3100);
  c.ceil_mode = true;
  c.strides = {2, 2};
  check_pool(OpKind::kMaxPool, c, false, DType::kFloat32, 3101);
}

Dims nhwc_of(const Dims& nchw) {
  Dims d{nchw[0]};
  d.insert(d.end(), nchw.begin() + 2, nchw.end());
  d.push_back(nchw[1]);
  return d;
}

// Channels-last 8-bit MaxPool (the layout_nhwc pass's int8 regions): C % 16 == 0 takes the 16-channel kernel
// (ResNet's 3x3/s2 stem pool among the cases), other C the generic one; exact.
TEST(GpuPool, MaxPoolEightBitNhwc) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3600;
  for (DType t : {DType::kUInt8, DType::kInt8})
    for (const PoolCase& base : cases()) {
      if (base.x.size() != 4) continue;
      for (int64_t channels : {16, 48, 12}) {
        PoolCase c = base;
        c.x[1] = channels;
        c.x = nhwc_of(c.x);
        const Attrs a = pool_attrs(OpKind::kMaxPool, c, true);
        SCOPED_TRACE("MaxPool NHWC X " + dims_to_string(c.x) + " " + dtype_name(t));
        const Tolerance exact{0.0, 0.0};
        const double lo = t == DType::kUInt8 ? 0 : -128, hi = t == DType::kUInt8 ? 255 : 127;
        expect_cuda_matches_reference(make_test_node(OpKind::kMaxPool, 1, 1, a),
                                      {random_tensor(t, c.x, seed++, lo, hi)}, {}, &exact);
      }
    }
}

TEST(GpuPool, MaxAndAverageNhwc) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3200;
  for (PoolCase c : cases()) {
    c.x = nhwc_of(c.x);
    check_pool(OpKind::kMaxPool, c, true, DType::kFloat32, seed++);
    check_pool(OpKind::kAveragePool, c, true, DType::kFloat32, seed++);
  }
}

TEST(GpuPool, HalfTypes) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3300;
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (size_t i : {1, 3}) {
      check_pool(OpKind::kMaxPool, cases()[i], false, t, seed++);
      check_pool(OpKind::kAveragePool, cases()[i], false, t, seed++);
    }
}

// Channels-last float16/bfloat16 with C % 8 == 0 takes the vectorized kernel (8 channels per thread).
TEST(GpuPool, HalfTypesNhwcVectorized) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3400;
  for (DType t : {DType::kFloat16, DType::kBFloat16})
    for (const PoolCase& base : cases()) {
      if (base.x.size() != 4) continue;
      PoolCase c = base;
      c.x[1] = c.x[1] <= 8 ? 8 : 16;
      c.x = nhwc_of(c.x);
      check_pool(OpKind::kMaxPool, c, true, t, seed++);
      check_pool(OpKind::kAveragePool, c, true, t, seed++);
    }
}

void check_global(OpKind op, const Dims& x, bool nhwc, DType t, uint64_t seed) {
  Attrs a;
  if (nhwc) a.set("layout", std::string("NHWC"));
  SCOPED_TRACE(std::string(op == OpKind::kGlobalMaxPool ? "GlobalMaxPool" : "GlobalAveragePool") + " X " +
               dims_to_string(x) + (nhwc ? " NHWC " : " NCHW ") + dtype_name(t));
  Node node = make_test_node(op, 1, 1, a);
  const Tolerance tol = tol_for(t);
  expect_cuda_matches_reference(node, {random_tensor(t, x, seed)}, {}, &tol);
}

TEST(GpuPool, GlobalPools) {
  KILN_REQUIRE_GPU();
  uint64_t seed = 3400;
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool})
    for (const Dims& x : {Dims{2, 64, 7, 7}, Dims{1, 3, 1, 1}, Dims{2, 5, 33}, Dims{1, 4, 3, 5, 6}, Dims{1, 8, 64, 64}})
      for (bool nhwc : {false, true})
        for (DType t : {DType::kFloat32, DType::kFloat16}) check_global(op, x, nhwc, t, seed++);
}

// Channels-last shapes of squeeze-excitation blocks and classifier heads: vectorized loads (C % 8 for 16-bit, C % 4
// for float32, else scalar), the spatial split over blocks at small batches (finished by a second kernel), and 1-D.
TEST(GpuPool, GlobalPoolsChannelsLastLarge) {
  KILN_REQUIRE_GPU();
  struct OwnKernels {  // the vectorized, split kernel (KILN_CUDA_OWN_KERNELS, conv_common.h)
    OwnKernels() { setenv("KILN_CUDA_OWN_KERNELS", "1", 1); }
    ~OwnKernels() { unsetenv("KILN_CUDA_OWN_KERNELS"); }
  } own;
  uint64_t seed = 3500;
  for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool})
    for (const Dims& x : {Dims{1, 112, 112, 96}, Dims{3, 56, 56, 24}, Dims{1, 7, 7, 1152}, Dims{2, 30, 30, 12},
                          Dims{1, 1000, 3}, Dims{64, 14, 14, 40}})
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) check_global(op, x, true, t, seed++);
}

}  // namespace
}  // namespace kiln::testing
