// The graph optimizer's entry point: the pass list per optimization level, written out in one place.
#include "passes/pass_manager.h"

#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include "passes/pass.h"

namespace kiln {

namespace {

using PassFactory = std::function<std::unique_ptr<Pass>()>;

// Whether the build's preferred backend asked for a backend-specific pass (PassOptions::backend_passes).
bool backend_wants(const PassOptions& o, const std::string& pass) {
  if (o.backend_passes) return o.backend_passes->count(pass) != 0;
  if (pass == "fold_qdq" || pass == "fold_qdq_binary") return o.device == "cpu" || o.device == "cuda";
  if (pass == "fuse_qconv_add" || pass == "fuse_qmatmul_bias" || pass == "fuse_qmatmul_add") return o.device == "cpu";
  return o.device == "cuda";
}

// The pass list for these options, in order. This is the one place that says what runs when:
//   O0: nothing.  O1: cleanup.  O2: + fusions.  O3..O5: + NHWC layout and elementwise chains, when the backend
//   asks for them (cuda: both; cpu: elementwise chains). fold_qdq_moves, fold_qdq and fold_qdq_lookup (O2+) for
//   backends with int8 convolutions and GEMMs ("fold_qdq"); fold_qdq_binary for those that also run
//   QLinearAdd/QLinearMul/QLinearGlobalAveragePool ("fold_qdq_binary"). cpu and cuda ask for both; cuda also for
//   fold_qdq_fp8 (its FP8 GEMM); cpu also for fuse_qconv_add (FusedQLinearConv), fuse_qmatmul_bias and fuse_qmatmul_add.
std::vector<PassFactory> pass_list(const PassOptions& o) {
  std::vector<PassFactory> l;
  if (o.opt_level <= 0) return l;
  const bool fusions = o.opt_level >= 2;
  const bool nhwc = o.opt_level >= 3 && backend_wants(o, "layout_nhwc");
  const bool chains = o.opt_level >= 3 && backend_wants(o, "fuse_elementwise_chains");
  // Before constant folding, which would turn the weights' DequantizeLinear into float weights.
  if (fusions && backend_wants(o, "fold_qdq")) {
    // Attention's score path in float32 (not exact: --exact-qdq keeps it), before the moves rewrite its Q/DQ.
    if (!o.exact_qdq) l.push_back(make_fold_qdq_attention_pass);
    l.push_back(make_fold_qdq_moves_pass);   // data movement onto the 8-bit values first
    l.push_back(make_fold_qdq_pass);
    l.push_back(make_fold_qdq_lookup_pass);  // after fold_qdq: its int8 ops' outputs are the tables' inputs
    // After the tables: SiLU's Mul is a table, not a QLinearMul.
    if (backend_wants(o, "fold_qdq_binary")) l.push_back(make_fold_qdq_binary_pass);
  }
  // FP8 GEMMs (float8 Q/DQ around MatMul/Gemm -> FusedMatMul over float8), for backends that run them (cuda).
  if (fusions && backend_wants(o, "fold_qdq_fp8")) l.push_back(make_fold_qdq_fp8_pass);
  l.push_back(make_fold_constants_pass);
  l.push_back(make_fold_shape_dims_pass);  // shape subgraphs of dynamic-batch exports (after the static ones fold)
  l.push_back(make_remove_identity_pass);
  l.push_back(make_eliminate_dead_code_pass);
  l.push_back(make_eliminate_common_subexpressions_pass);
  l.push_back(make_lower_einsum_pass);         // after folding: constant Einsums fold instead; before the fusions
  l.push_back(make_simplify_broadcasts_pass);  // before fuse_attention: masks keep their small shapes
  if (fusions) {
    // Fusions, in this order (after drop_dead_conv_taps): fuse_conv_bn, fuse_gelu, fuse_layer_norm, fuse_rms_norm, fuse_attention,
    // fuse_conv_activation, fuse_matmul_bias_activation, fuse_qconv_add, fuse_qmatmul_bias, fuse_qmatmul_add.
    l.push_back(make_drop_dead_conv_taps_pass);  // weights are constants by now (fold_qdq, fold_constants)
    l.push_back(make_fuse_conv_bn_pass);
    // What no conv absorbed, as a 1x1 depthwise conv, before fuse_conv_activation takes the ReLU after it.
    if (backend_wants(o, "batch_norm_as_depthwise")) l.push_back(make_batch_norm_as_depthwise_pass);
    l.push_back(make_fuse_gelu_pass);
    l.push_back(make_fuse_layer_norm_pass);
    l.push_back(make_fuse_rms_norm_pass);
    l.push_back(make_fuse_attention_pass);
    l.push_back(make_fuse_conv_activation_pass);
    l.push_back(make_fuse_matmul_bias_activation_pass);
    // Residual QLinearAdds into the QLinearConv before them (not exact: --exact-qdq keeps them), for backends with
    // FusedQLinearConv (cpu); after dead-code elimination dropped fold_qdq's leftover DequantizeLinear readers.
    if (backend_wants(o, "fuse_qconv_add") && !o.exact_qdq) l.push_back(make_fuse_qconv_add_pass);
    // Likewise a Linear layer's 8-bit bias QLinearAdd into the QLinearMatMul's int32 bias (cpu).
    if (backend_wants(o, "fuse_qmatmul_bias") && !o.exact_qdq) l.push_back(make_fuse_qmatmul_bias_pass);
    // Then a residual QLinearAdd into that QLinearMatMul (Kiln's inputs 9-11; cpu).
    if (backend_wants(o, "fuse_qmatmul_add") && !o.exact_qdq) l.push_back(make_fuse_qmatmul_add_pass);
  }
  l.push_back(make_simplify_transpose_reshape_pass);
  if (fusions) {
    l.push_back(make_eliminate_dead_code_pass);  // merged Reshapes leave dead readers that look like a second use
    l.push_back(make_fold_attention_heads_pass);  // after transposes of K are merged
  }
  if (fusions) l.push_back(make_fuse_qkv_projection_pass);   // needs the 3-D Attention form
  if (fusions) l.push_back(make_fuse_add_layer_norm_pass);   // after GEMM epilogues took their residual Adds
  if (nhwc) l.push_back(make_layout_nhwc_pass);
  if (chains) l.push_back(make_fuse_elementwise_chains_pass);  // after the layout's Transposes are placed
  l.push_back(make_fold_constants_pass);
  l.push_back(make_eliminate_dead_code_pass);
  return l;
}

// Every node output must have an entry in value_types after a pass (the contract in pass.h).
Status check_types_present(const Graph& g) {
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty() && !g.type_of(o)) return internal_error(n.describe() + ": output '" + o + "' has no type");
  return ok_status();
}

std::string join(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::vector<std::string> pass_names(const PassOptions& options) {
  std::vector<std::string> names;
  for (const auto& f : pass_list(options)) names.push_back(f()->name());
  return names;
}

std::vector<std::string> all_pass_names() {
  std::vector<std::string> names;
  for (const char* device : {"cuda", "cpu"}) {
    PassOptions widest;
    widest.opt_level = 5;
    widest.device = device;
    for (const auto& n : pass_names(widest))
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  return names;
}

Status optimize_graph(Graph& g, const PassOptions& options) {
  std::vector<std::unique_ptr<Pass>> passes;
  for (const auto& f : pass_list(options)) passes.push_back(f());

  // Validate the dump requests before doing any work, so a typo fails fast.
  std::set<std::string> dump_after;
  bool dump_all = false;
  std::vector<std::string> valid = all_pass_names();
  for (const auto& d : options.dump_ir_after) {
    if (d == "all") {
      dump_all = true;
      continue;
    }
    if (std::find(options.external_dump_names.begin(), options.external_dump_names.end(), d) !=
        options.external_dump_names.end())
      continue;
    if (std::find(valid.begin(), valid.end(), d) == valid.end())
      return invalid_argument("--dump-ir after:" + d + ": unknown pass (valid: all, " +
                              join(options.external_dump_names) + (options.external_dump_names.empty() ? "" : ", ") +
                              join(valid) + ")");
    bool runs = std::any_of(passes.begin(), passes.end(), [&](const auto& p) { return p->name() == d; });
    if (!runs)
      return invalid_argument("--dump-ir after:" + d + ": pass does not run at -O" + std::to_string(options.opt_level) +
                              " on device '" + options.device + "' (passes run: " + join(pass_names(options)) + ")");
    dump_after.insert(d);
  }
  std::ostream& out = options.dump ? *options.dump : std::cerr;

  for (size_t i = 0; i < passes.size(); ++i) {
    Pass& pass = *passes[i];
    Result<bool> changed = pass.run(g, options);
    if (!changed.ok()) return changed.status().with_context("pass '" + pass.name() + "'");
    if (options.verify_each_pass) {
      Status st = verify_graph(g);
      if (st.ok()) st = check_types_present(g);
      if (!st.ok()) return st.with_context("after pass '" + pass.name() + "' (verifier)");
    }
    if (dump_all || dump_after.count(pass.name())) {
      out << "=== IR after " << pass.name() << " (pass " << (i + 1) << " of " << passes.size()
          << (changed.value() ? ", changed" : ", unchanged") << ") ===\n"
          << print_graph(g);
    }
  }
  return ok_status();
}

}  // namespace kiln
