// The CPU region kernels vs the reference kernels: LRN (odd and even window sizes, every beta path, rank 3 to 5,
// windows wider than the channels, two threads), NonMaxSuppression (corner and center boxes, flipped corners, score
// thresholds, tied scores, per-class limits, several images and classes: the same kept boxes in the same order) and
// RoiAlign (avg and max, both coordinate modes, fixed and adaptive sampling, regions partly and wholly outside the
// image, int32 indices); one-line errors for bad shapes and indices.
#include <algorithm>
#include <limits>

#include "cpu_test_context.h"

namespace kiln::cpu::test {
namespace {

std::string expect_error(OpKind op, const std::vector<Tensor>& in, const Attrs& a) {
  CpuRun r = run_cpu_kernel(op, in, a, 1, 18);
  EXPECT_TRUE(r.supported) << r.why;
  EXPECT_FALSE(r.status.ok());
  return r.status.message();
}

Tensor f32(const Dims& d, const std::vector<float>& v) { return Tensor::from_vector<float>(DType::kFloat32, d, v); }

TEST(CpuKernelsRegion, LrnWindowsBetasAndRanks) {
  for (int64_t size : {1, 2, 3, 4, 5, 9})
    for (float beta : {0.75f, 0.5f, 1.0f, 0.6f}) {
      Attrs a;
      a.set("size", size);
      a.set("alpha", 2e-3f);
      a.set("beta", beta);
      a.set("bias", size % 2 ? 1.0f : 2.0f);
      const std::string w = "size " + std::to_string(size) + " beta " + std::to_string(beta);
      check_vs_reference(OpKind::kLRN, {random_f32({2, 7, 5, 6})}, a, 1, 13, 2e-6, 1e-6, w);
    }
  Attrs a;
  a.set("size", int64_t{5});
  check_vs_reference(OpKind::kLRN, {random_f32({1, 3, 300})}, a, 1, 13, 2e-6, 1e-6, "rank 3, window wider than C");
  check_vs_reference(OpKind::kLRN, {random_f32({1, 4, 3, 4, 5})}, a, 1, 13, 2e-6, 1e-6, "rank 5");
  check_vs_reference(OpKind::kLRN, {random_f32({2, 2})}, a, 1, 13, 2e-6, 1e-6, "rank 2");
  check_vs_reference(OpKind::kLRN, {random_f32({1, 64, 28, 28}, -20.f, 20.f)}, a, 1, 13, 2e-6, 1e-6, "two threads", 2);
  check_vs_reference(OpKind::kLRN, {Tensor(DType::kFloat32, {0, 3, 4})}, a, 1, 13, 0, 0, "empty");
  Attrs bad;
  bad.set("size", int64_t{0});
  const std::string e = expect_error(OpKind::kLRN, {random_f32({1, 3, 4})}, bad);
  EXPECT_NE(e.find("size must be a positive integer"), std::string::npos) << e;
}

// Boxes in [0, 1) with some pairs overlapping heavily; scores with ties.
Tensor random_boxes(int64_t batch, int64_t n) {
  Tensor corner = random_f32({batch, n, 2}, 0.f, 0.8f);
  Tensor extent = random_f32({batch, n, 2}, 0.05f, 0.3f);
  Tensor t(DType::kFloat32, {batch, n, 4});
  float* p = t.data<float>();
  for (int64_t i = 0; i < batch * n; ++i) {
    const float y = corner.data<float>()[2 * i], x = corner.data<float>()[2 * i + 1];
    const float h = extent.data<float>()[2 * i], w = extent.data<float>()[2 * i + 1];
    if (i % 5 == 0) {  // flipped corners: the kernel must order them
      p[4 * i] = y + h, p[4 * i + 1] = x + w, p[4 * i + 2] = y, p[4 * i + 3] = x;
    } else {
      p[4 * i] = y, p[4 * i + 1] = x, p[4 * i + 2] = y + h, p[4 * i + 3] = x + w;
    }
    if (i % 7 == 3 && i > 0)  // a near-duplicate of the previous box
      for (int k = 0; k < 4; ++k) p[4 * i + k] = p[4 * (i - 1) + k] + 0.01f;
  }
  return t;
}

Tensor tied_scores(int64_t batch, int64_t classes, int64_t n) {
  Tensor r = random_int(DType::kInt64, {batch, classes, n}, 0, 20);
  Tensor s(DType::kFloat32, {batch, classes, n});
  for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] = static_cast<float>(r.data<int64_t>()[i]) * 0.05f;
  return s;
}

TEST(CpuKernelsRegion, NmsKeepsTheReferenceBoxesInOrder) {
  const Tensor boxes = random_boxes(2, 60), scores = tied_scores(2, 3, 60);
  for (int64_t center : {0, 1})
    for (int64_t max_out : {0, 1, 5, 100})
      for (float iou : {0.0f, 0.3f, 0.5f, 1.0f})
        for (bool with_score : {false, true}) {
          Attrs a;
          a.set("center_point_box", center);
          std::vector<Tensor> in{boxes, scores, Tensor::from_vector<int64_t>(DType::kInt64, {1}, {max_out}),
                                 f32({1}, {iou})};
          if (with_score) in.push_back(f32({1}, {0.4f}));
          const std::string w = "center " + std::to_string(center) + " max " + std::to_string(max_out) + " iou " +
                                std::to_string(iou) + (with_score ? " score 0.4" : "");
          check_vs_reference(OpKind::kNonMaxSuppression, in, a, 1, 11, 0, 0, w);
        }
  check_vs_reference(OpKind::kNonMaxSuppression, {boxes, scores}, {}, 1, 11, 0, 0, "no limits: nothing kept");
  check_vs_reference(OpKind::kNonMaxSuppression, {random_boxes(1, 3000), tied_scores(1, 2, 3000),
                                                  Tensor::from_vector<int64_t>(DType::kInt64, {1}, {200}),
                                                  f32({1}, {0.45f}), f32({1}, {0.1f})},
                     {}, 1, 11, 0, 0, "3000 boxes, classes on two threads", 2);
  Tensor nan_scores = tied_scores(1, 2, 40);
  for (int64_t i = 0; i < nan_scores.numel(); i += 6) nan_scores.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  check_vs_reference(OpKind::kNonMaxSuppression,
                     {random_boxes(1, 40), nan_scores, Tensor::from_vector<int64_t>(DType::kInt64, {1}, {30})}, {}, 1,
                     11, 0, 0, "NaN scores are never selected");
  const std::string e = expect_error(OpKind::kNonMaxSuppression, {random_f32({1, 4, 4}), random_f32({1, 2, 5})}, {});
  EXPECT_NE(e.find("scores must have shape [1, classes, 4]"), std::string::npos) << e;
}

// NonMaxSuppression by brute force, written apart from both backends (one class of one image, corner boxes): every
// candidate in stable score order against every kept box, IoU by the op's definition.
std::vector<int64_t> brute_force_nms(const float* boxes, const float* scores, int64_t n, int64_t max_out, double iou_thr) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::vector<int64_t> live;
  for (int64_t i : order)
    if (scores[i] == scores[i]) live.push_back(i);
  std::stable_sort(live.begin(), live.end(), [&](int64_t p, int64_t q) { return scores[p] > scores[q]; });
  auto corner = [&](int64_t i, int k) { return static_cast<double>(boxes[i * 4 + k]); };
  std::vector<int64_t> kept;
  for (int64_t i : live) {
    if (static_cast<int64_t>(kept.size()) >= max_out) break;
    bool keep = true;
    for (int64_t k : kept) {
      const double ay0 = std::min(corner(i, 0), corner(i, 2)), ay1 = std::max(corner(i, 0), corner(i, 2));
      const double ax0 = std::min(corner(i, 1), corner(i, 3)), ax1 = std::max(corner(i, 1), corner(i, 3));
      const double by0 = std::min(corner(k, 0), corner(k, 2)), by1 = std::max(corner(k, 0), corner(k, 2));
      const double bx0 = std::min(corner(k, 1), corner(k, 3)), bx1 = std::max(corner(k, 1), corner(k, 3));
      const double iw = std::min(ax1, bx1) - std::max(ax0, bx0), ih = std::min(ay1, by1) - std::max(ay0, by0);
      if (iw <= 0 || ih <= 0) continue;
      const double inter = iw * ih, uni = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter;
      if (uni > 0 && inter / uni > iou_thr) {
        keep = false;
        break;
      }
    }
    if (keep) kept.push_back(i);
  }
  return kept;
}

TEST(CpuKernelsRegion, NmsOffsetClassesMatchBruteForce) {
  // torchvision's batched_nms: every class in one call, each class's boxes shifted by class * (max coordinate + 1),
  // so boxes of different classes never overlap; plus inverted, zero-size, huge and non-finite boxes.
  const int64_t n = 3000, classes = 40;
  Tensor boxes = random_boxes(1, n);
  Tensor cls = random_int(DType::kInt64, {n}, 0, classes - 1);
  float* b = boxes.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 4; ++k) b[i * 4 + k] += 1.5f * static_cast<float>(cls.data<int64_t>()[i]);
  b[4 * 11 + 2] = b[4 * 11];                                      // zero height
  b[4 * 12 + 1] = -std::numeric_limits<float>::infinity();        // infinite extent
  b[4 * 13 + 3] = std::numeric_limits<float>::quiet_NaN();        // NaN corner
  b[4 * 14] = -1e30f, b[4 * 14 + 1] = -1e30f, b[4 * 14 + 2] = 1e30f, b[4 * 14 + 3] = 1e30f;  // covers everything
  Tensor scores = tied_scores(1, 1, n);
  for (float iou : {0.0f, 0.3f, 0.7f}) {
    const std::vector<Tensor> in{boxes, scores, Tensor::from_vector<int64_t>(DType::kInt64, {1}, {100000}),
                                 f32({1}, {iou})};
    const std::string w = "offset classes, iou " + std::to_string(iou);
    check_vs_reference(OpKind::kNonMaxSuppression, in, {}, 1, 11, 0, 0, w);
    CpuRun r = run_cpu_kernel(OpKind::kNonMaxSuppression, in, {}, 1, 11);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    const std::vector<int64_t> want = brute_force_nms(b, scores.data<float>(), n, 100000, iou);
    const Tensor& got = r.outputs[0];
    ASSERT_EQ(got.dim(0), static_cast<int64_t>(want.size())) << w;
    for (int64_t k = 0; k < got.dim(0); ++k) ASSERT_EQ(got.data<int64_t>()[k * 3 + 2], want[k]) << w << " row " << k;
  }
}

TEST(CpuKernelsRegion, RoiAlignModesSamplingAndEdges) {
  const Tensor x = random_f32({2, 5, 12, 10});
  // (x1, y1, x2, y2) in input pixels / spatial_scale: inside, touching the edges, partly and wholly outside, empty.
  const Tensor rois = f32({6, 4}, {1, 1, 6, 8, 0, 0, 20, 24, 15, 18, 30, 30, -8, -8, 3, 2, 50, 60, 70, 80, 4, 4, 4, 4});
  const Tensor batch = Tensor::from_vector<int64_t>(DType::kInt64, {6}, {0, 1, 1, 0, 1, 0});
  for (const char* mode : {"avg", "max"})
    for (const char* ctm : {"half_pixel", "output_half_pixel"})
      for (int64_t sampling : {0, 1, 2})
        for (float scale : {1.0f, 0.5f}) {
          Attrs a;
          a.set("mode", std::string(mode));
          a.set("coordinate_transformation_mode", std::string(ctm));
          a.set("sampling_ratio", sampling);
          a.set("spatial_scale", scale);
          a.set("output_height", int64_t{3});
          a.set("output_width", int64_t{4});
          const std::string w = std::string(mode) + " " + ctm + " sampling " + std::to_string(sampling) + " scale " +
                                std::to_string(scale);
          check_vs_reference(OpKind::kRoiAlign, {x, rois, batch}, a, 1, 16, 1e-5, 1e-5, w);
        }
  Attrs a;
  a.set("output_height", int64_t{7});
  a.set("output_width", int64_t{7});
  a.set("spatial_scale", 0.25f);
  const Tensor big = random_f32({1, 64, 20, 20});
  const Tensor many = random_f32({40, 4}, 0.f, 79.f);
  check_vs_reference(OpKind::kRoiAlign, {big, many, random_int(DType::kInt32, {40}, 0, 0)}, a, 1, 16, 1e-5, 1e-5,
                     "int32 indices, 64 channels, two threads", 2);
  const std::string e = expect_error(
      OpKind::kRoiAlign, {x, f32({1, 4}, {0, 0, 2, 2}), Tensor::from_vector<int64_t>(DType::kInt64, {1}, {2})}, a);
  EXPECT_NE(e.find("batch_indices[0] = 2 is out of range [0, 2)"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln::cpu::test
