// The Pass interface: one graph rewrite with a name; the manager (pass_manager.cc) runs a list of them.
#pragma once
#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/status.h"
#include "passes/pass_manager.h"

namespace kiln {

// A pass rewrites a graph in place. Contract:
//  - run() returns true when it changed the graph, false when the graph is untouched;
//  - afterwards the graph verifies (verify_graph) and g.value_types holds a type for every value the pass
//    created or whose type it changed (pass_util.h: reinfer_types);
//  - graph output names and graph inputs never change; bad or unsupported patterns are skipped, not errors.
//    An error means the graph could not be left in a valid state (it names the node).
class Pass {
 public:
  virtual ~Pass() = default;
  // snake_case, unique: used by --dump-ir after:<name> and in error messages.
  virtual std::string name() const = 0;
  virtual Result<bool> run(Graph& g, const PassOptions& options) = 0;
};

// Factories, one per pass file (the pass list itself is in pass_manager.cc).
std::unique_ptr<Pass> make_fold_constants_pass();
std::unique_ptr<Pass> make_fold_shape_dims_pass();
std::unique_ptr<Pass> make_remove_identity_pass();
std::unique_ptr<Pass> make_eliminate_dead_code_pass();
std::unique_ptr<Pass> make_eliminate_common_subexpressions_pass();
std::unique_ptr<Pass> make_simplify_transpose_reshape_pass();
std::unique_ptr<Pass> make_simplify_broadcasts_pass();
std::unique_ptr<Pass> make_lower_einsum_pass();
std::unique_ptr<Pass> make_layout_nhwc_pass();
// Fusion passes (P2): declare factories here, one line each, as their files land.
std::unique_ptr<Pass> make_drop_dead_conv_taps_pass();
std::unique_ptr<Pass> make_fuse_conv_bn_pass();
std::unique_ptr<Pass> make_batch_norm_as_depthwise_pass();
std::unique_ptr<Pass> make_fuse_gelu_pass();
std::unique_ptr<Pass> make_fuse_layer_norm_pass();
std::unique_ptr<Pass> make_fuse_add_layer_norm_pass();
std::unique_ptr<Pass> make_fuse_rms_norm_pass();
std::unique_ptr<Pass> make_fuse_attention_pass();
std::unique_ptr<Pass> make_fuse_conv_activation_pass();
std::unique_ptr<Pass> make_fuse_matmul_bias_activation_pass();
std::unique_ptr<Pass> make_fuse_elementwise_chains_pass();
std::unique_ptr<Pass> make_fold_attention_heads_pass();
std::unique_ptr<Pass> make_fuse_qkv_projection_pass();
std::unique_ptr<Pass> make_fold_qdq_pass();
std::unique_ptr<Pass> make_fold_qdq_binary_pass();
std::unique_ptr<Pass> make_fuse_qconv_add_pass();
std::unique_ptr<Pass> make_fuse_qmatmul_bias_pass();
std::unique_ptr<Pass> make_fuse_qmatmul_add_pass();
std::unique_ptr<Pass> make_fold_qdq_lookup_pass();
std::unique_ptr<Pass> make_fold_qdq_moves_pass();
std::unique_ptr<Pass> make_fold_qdq_attention_pass();
std::unique_ptr<Pass> make_fold_qdq_fp8_pass();
// Run by the builder after precision lowering, not by optimize_graph (see fold_qdq_fp8.cc).
std::unique_ptr<Pass> make_fold_qdq_fp8_output_pass();
// After fold_qdq_fp8_output (builder): a last-axis LayerNormalization / FusedAddLayerNorm followed by a float8
// QuantizeLinear writes the float8 values itself (FusedAddLayerNorm output 1).
std::unique_ptr<Pass> make_fold_qdq_fp8_norm_pass();

}  // namespace kiln
