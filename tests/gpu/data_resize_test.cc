// GPU tests of the data family's Resize against the reference backend: nearest (every rounding mode),
// linear and cubic with every coordinate transformation mode, scales and sizes, axes, non-float nearest.
#include <gtest/gtest.h>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

Tensor floats(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<float>(DType::kFloat32, {n}, v);
}
Tensor ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(DType::kInt64, {n}, v);
}

void check_resize(Attrs a, const Tensor& x, const Tensor& roi, const Tensor& scales, const Tensor& sizes) {
  SCOPED_TRACE(a.get_string("mode", "nearest") + " " + a.get_string("coordinate_transformation_mode", "half_pixel") +
               " " + a.get_string("nearest_mode", "round_prefer_floor") + " " + dtype_name(x.dtype()) + " " +
               dims_to_string(x.dims()));
  Node n = make_test_node(OpKind::kResize, 4, 1, std::move(a));
  n.opset = 19;
  std::vector<size_t> constants;
  if (!roi.defined())
    n.inputs[1] = "";
  else
    constants.push_back(1);
  if (!scales.defined())
    n.inputs[2] = "";
  else
    constants.push_back(2);
  if (!sizes.defined())
    n.inputs[3] = "";
  else
    constants.push_back(3);
  expect_cuda_matches_reference(n, {x, roi, scales, sizes}, constants);
}

TEST(CudaDataResize, NearestModesAndCoordinateModes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (const char* ctm : {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn",
                            "half_pixel_symmetric"})
      for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
        Attrs a;
        a.set("mode", std::string("nearest"));
        a.set("coordinate_transformation_mode", std::string(ctm));
        a.set("nearest_mode", std::string(nm));
        Tensor x = random_tensor(dt, {2, 3, 7, 5}, 1);
        check_resize(a, x, Tensor(), floats({1, 1, 2, 3}), Tensor());
        check_resize(a, x, Tensor(), floats({1, 1, 0.6f, 1.7f}), Tensor());
        check_resize(a, x, Tensor(), Tensor(), ints({2, 3, 9, 4}));
      }
}

TEST(CudaDataResize, LinearAndCubic) {
  KILN_REQUIRE_GPU();
  for (const char* mode : {"linear", "cubic"})
    for (DType dt : {DType::kFloat32, DType::kFloat16})
      for (const char* ctm :
           {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"})
        for (int64_t exclude : {0, 1}) {
          Attrs a;
          a.set("mode", std::string(mode));
          a.set("coordinate_transformation_mode", std::string(ctm));
          a.set("exclude_outside", exclude);
          Tensor x = random_tensor(dt, {1, 2, 6, 9}, 2);
          check_resize(a, x, Tensor(), floats({1, 1, 2, 0.5f}), Tensor());
          check_resize(a, x, Tensor(), Tensor(), ints({1, 2, 13, 4}));
        }
  Attrs a;
  a.set("mode", std::string("linear"));
  a.set("coordinate_transformation_mode", std::string("tf_crop_and_resize"));
  a.set("extrapolation_value", 0.5f);
  check_resize(a, random_tensor(DType::kFloat32, {1, 1, 8, 8}, 3), floats({0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f}),
               floats({1, 1, 1.5f, 0.75f}), Tensor());
}

TEST(CudaDataResize, AxesPolicyAndIntegerNearest) {
  KILN_REQUIRE_GPU();
  Attrs a;
  a.set("mode", std::string("linear"));
  a.set("axes", std::vector<int64_t>{2, 3});
  a.set("keep_aspect_ratio_policy", std::string("not_larger"));
  check_resize(a, random_tensor(DType::kFloat32, {2, 3, 10, 6}, 4), Tensor(), Tensor(), ints({7, 9}));
  Attrs n;
  n.set("mode", std::string("nearest"));
  for (DType dt : {DType::kInt64, DType::kUInt8, DType::kInt32})
    check_resize(n, random_tensor(dt, {1, 3, 5, 7}, 5, 0, 200), Tensor(), floats({1, 1, 2, 2}), Tensor());
  Attrs l3;
  l3.set("mode", std::string("linear"));
  check_resize(l3, random_tensor(DType::kFloat32, {2, 4, 5, 6}, 6), Tensor(), floats({1, 2, 1.5f, 0.5f}), Tensor());
}

}  // namespace
}  // namespace kiln::testing
