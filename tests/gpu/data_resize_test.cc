// GPU tests of the data family's Resize against the reference backend: nearest (every rounding mode),
// linear and cubic with every coordinate transformation mode, scales and sizes, axes, non-float nearest; and replays
// from CUDA graphs at two shapes with the host heap reused between runs.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "ir/shape_inference.h"
#include "runtime/builder.h"

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

// Nearest moves rows of the innermost unresized axes (channels-last upsampling) as the widest vector the row allows:
// row lengths of 1 to 130 elements give 1- to 16-byte vectors; the resized axis may also be the last one.
TEST(CudaDataResize, NearestRowsChannelsLast) {
  KILN_REQUIRE_GPU();
  Attrs a;
  a.set("mode", std::string("nearest"));
  a.set("coordinate_transformation_mode", std::string("asymmetric"));
  a.set("nearest_mode", std::string("floor"));
  for (DType dt : {DType::kFloat16, DType::kFloat32, DType::kUInt8, DType::kInt64})
    for (int64_t c : {1, 3, 4, 8, 16, 130}) {
      Tensor x = random_tensor(dt, {2, 5, 7, c}, 7, 0, 100);
      check_resize(a, x, Tensor(), floats({1, 2, 2, 1}), Tensor());
      check_resize(a, x, Tensor(), floats({1, 0.5f, 3, 1}), Tensor());
      check_resize(a, x, Tensor(), Tensor(), ints({2, 11, 4, c}));
    }
  Attrs h;  // half_pixel nearest on the last axis and the first: rows of one element, and rows of whole images
  h.set("mode", std::string("nearest"));
  check_resize(h, random_tensor(DType::kFloat16, {3, 4, 6, 10}, 8), Tensor(), floats({1, 1, 1, 1.5f}), Tensor());
  check_resize(h, random_tensor(DType::kFloat16, {3, 4, 6, 10}, 9), Tensor(), floats({2, 1, 1, 1}), Tensor());
  check_resize(h, random_tensor(DType::kFloat32, {3, 4, 6, 10}, 10), Tensor(), floats({1, 1, 1, 1}), Tensor());
}

// An engine of one Resize (linear, scales 2x on H and W as a constant) on a [N, 3, H, W] float32 input with dynamic
// N, H and W, run from CUDA graphs at two shapes in turn. The tap tables must stay on the device for the graphs'
// lifetime: the first version uploaded them per run from temporary host vectors, the graph recorded that copy, and
// replays read whatever the heap held there later (an illegal address in a YOLO-style model's upsampling). The host
// heap is filled with 0x55 bytes between runs so that freed memory read by a replay shows.
TEST(CudaDataResize, ReplayedFromCudaGraphs) {
  KILN_REQUIRE_GPU();
  auto g = std::make_shared<Graph>();
  g->name = "resize_graphs";
  g->opsets[""] = 19;
  ValueInfo x;
  x.name = "x";
  x.type.kind = ValueKind::kTensor;
  x.type.dtype = DType::kFloat32;
  x.type.shape.rank_known = true;
  x.type.shape.dims = {Dim::named("n"), Dim::known(3), Dim::named("h"), Dim::named("w")};
  g->inputs = {x};
  g->initializers["scales"] = floats({1, 1, 2, 2});
  Attrs a;
  a.set("mode", std::string("linear"));
  Node n = make_test_node(OpKind::kResize, 3, 1, a);
  n.opset = 19;
  n.name = "resize";
  n.inputs = {"x", "", "scales"};
  n.outputs = {"y"};
  g->nodes = {n};
  g->outputs.push_back(ValueInfo{"y", {}});
  ASSERT_TRUE(infer_graph_types(*g).ok());
  for (auto& o : g->outputs) o.type = *g->type_of(o.name);
  BuildOptions bo;
  bo.device = "cuda";
  OptimizationProfile profile;
  profile.inputs["x"] = ShapeRange{{1, 3, 4, 4}, {4, 3, 16, 10}, {4, 3, 32, 32}};
  bo.profiles = {profile};
  auto engine = build_engine_from_graph(g, bo, "resize_graphs");
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto graphs = (*engine)->create_context();
  graphs->set_cuda_graph(true);
  auto plain = (*engine)->create_context();
  for (int run = 0; run < 8; ++run) {
    const Dims dims = run % 2 ? Dims{2, 3, 9, 13} : Dims{4, 3, 16, 10};
    Tensor in = random_tensor(DType::kFloat32, dims, 100 + run);
    NamedValues want, got;
    ASSERT_TRUE(plain->run({{"x", Value::of(in)}}, &want).ok());
    Status st = graphs->run({{"x", Value::of(in)}}, &got);
    ASSERT_TRUE(st.ok()) << "run " << run << ": " << st.message();
    const Tensor& w = want[0].second.tensor;
    const Tensor& y = got[0].second.tensor;
    ASSERT_EQ(w.dims(), y.dims());
    EXPECT_EQ(0, std::memcmp(w.raw(), y.raw(), w.nbytes())) << "run " << run << " " << dims_to_string(dims);
    std::vector<std::unique_ptr<char[]>> churn;  // reuse freed heap blocks of every small size
    for (size_t bytes = 16; bytes <= 64 * 1024; bytes += bytes / 4 + 8) {
      churn.emplace_back(new char[bytes]);
      std::memset(churn.back().get(), 0x55, bytes);
    }
  }
}

}  // namespace
}  // namespace kiln::testing
