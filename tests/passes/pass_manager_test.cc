// The pass manager: pass lists per level and device, --dump-ir validation and output, whole-pipeline equality.
#include <sstream>

#include "pass_test_util.h"

namespace kiln_pass_test {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(PassManager, ListsPerLevelAndDevice) {
  PassOptions o;
  o.opt_level = 0;
  EXPECT_TRUE(pass_names(o).empty());
  o.opt_level = 1;
  auto l1 = pass_names(o);
  ASSERT_FALSE(l1.empty());
  EXPECT_EQ(l1.front(), "fold_constants");
  EXPECT_EQ(l1.back(), "eliminate_dead_code");
  EXPECT_FALSE(contains(l1, "layout_nhwc"));
  o.opt_level = 3;
  EXPECT_FALSE(contains(pass_names(o), "layout_nhwc")) << "cpu never gets NHWC";
  o.device = "cuda";
  EXPECT_TRUE(contains(pass_names(o), "layout_nhwc"));
  EXPECT_TRUE(contains(all_pass_names(), "layout_nhwc"));
}

// Q/DQ folding: the CPU and CUDA backends both run the folded int8 ops; a backend asking only for "fold_qdq" gets
// the convolutions, GEMMs and tables without QLinearAdd/QLinearMul/QLinearGlobalAveragePool.
TEST(PassManager, QdqFoldingPerBackend) {
  PassOptions o;
  o.opt_level = 2;
  for (const char* device : {"cpu", "cuda"}) {
    o.device = device;
    EXPECT_TRUE(contains(pass_names(o), "fold_qdq")) << device;
    EXPECT_TRUE(contains(pass_names(o), "fold_qdq_lookup")) << device;
    EXPECT_TRUE(contains(pass_names(o), "fold_qdq_binary")) << device;
  }
  o.backend_passes = std::set<std::string>{"fold_qdq"};
  EXPECT_TRUE(contains(pass_names(o), "fold_qdq_moves"));
  EXPECT_FALSE(contains(pass_names(o), "fold_qdq_binary"));
  o.opt_level = 1;
  EXPECT_FALSE(contains(pass_names(o), "fold_qdq")) << "fusions start at O2";
}

Graph small_model() {
  GraphBuilder b;
  b.input("x", {2, 3}).ints("shape", {2, 3}).floats("w", {2, 3});
  b.node(OpKind::kIdentity, {"x"}, {"i"});
  b.node(OpKind::kReshape, {"i", "shape"}, {"r"});
  b.node(OpKind::kAdd, {"r", "w"}, {"a1"});
  b.node(OpKind::kAdd, {"r", "w"}, {"a2"});
  b.node(OpKind::kMul, {"a1", "a2"}, {"y"});
  b.node(OpKind::kExp, {"x"}, {"unused"});
  b.output("y");
  return b.finish();
}

TEST(PassManager, RunsCleanupAndKeepsOutputs) {
  Graph g = small_model();
  Graph before = g;
  PassOptions o;
  o.opt_level = 1;
  o.verify_each_pass = true;
  Status st = optimize_graph(g, o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(g.nodes.size(), 2u) << print_graph(g);  // Add, Mul
  expect_same_outputs(before, g);
}

TEST(PassManager, DumpIrAfterNamedPass) {
  Graph g = small_model();
  std::ostringstream dump;
  PassOptions o;
  o.opt_level = 1;
  o.dump = &dump;
  o.dump_ir_after = {"import", "remove_identity"};
  ASSERT_TRUE(optimize_graph(g, o).ok());
  EXPECT_NE(dump.str().find("=== IR after remove_identity"), std::string::npos);
  EXPECT_EQ(dump.str().find("=== IR after fold_constants"), std::string::npos);
  std::ostringstream all;
  Graph g2 = small_model();
  o.dump = &all;
  o.dump_ir_after = {"all"};
  ASSERT_TRUE(optimize_graph(g2, o).ok());
  EXPECT_NE(all.str().find("=== IR after eliminate_common_subexpressions"), std::string::npos);
}

TEST(PassManager, UnknownDumpNameListsValidOnes) {
  Graph g = small_model();
  PassOptions o;
  o.dump_ir_after = {"fold_constant"};
  Status st = optimize_graph(g, o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unknown pass"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("fold_constants"), std::string::npos) << st.message();
  o.dump_ir_after = {"layout_nhwc"};  // valid name, but not run on cpu
  st = optimize_graph(g, o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not run"), std::string::npos) << st.message();
}

TEST(PassManager, FullCudaPipelineOnConvModel) {
  GraphBuilder b;
  b.input("x", {1, 3, 6, 6}).floats("w", {4, 3, 3, 3}).floats("bias", {4});
  Node& c = b.node(OpKind::kConv, {"x", "w", "bias"}, {"c"});
  c.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node(OpKind::kRelu, {"c"}, {"r"});
  b.node(OpKind::kGlobalAveragePool, {"r"}, {"g"});
  b.node(OpKind::kFlatten, {"g"}, {"y"});
  b.output("y");
  Graph g = b.finish();
  Graph before = g;
  PassOptions o;
  o.opt_level = 3;
  o.device = "cuda";
  o.verify_each_pass = true;
  Status st = optimize_graph(g, o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(count_ops(g, OpKind::kConv), 0) << print_graph(g);
  expect_same_outputs(before, g, 1e-5);
}

}  // namespace
}  // namespace kiln_pass_test
