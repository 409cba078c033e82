// The graph optimizer's entry point: the pass list per optimization level, written out in one place.
#pragma once
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct PassOptions {
  int opt_level = 3;                       // 0: no passes; 1: cleanup; 2+: fusions; 3+: layout (GPU)
  std::string device = "cpu";              // "cpu" | "cuda": named in messages
  // The backend-specific passes the build's preferred backend asks for (Backend::wants_pass): "layout_nhwc",
  // "fuse_elementwise_chains", "fold_qdq", "fold_qdq_binary", "fuse_qconv_add", "fuse_qmatmul_bias", "fuse_qmatmul_add".
  // Unset (callers that give only a device): the first two when device is "cuda", both fold_qdq passes on "cpu" and
  // "cuda", the last three on "cpu".
  std::optional<std::set<std::string>> backend_passes;
  std::vector<std::string> dump_ir_after;  // pass names, or "all": print the IR after those passes
  std::ostream* dump = nullptr;            // where dumps go (std::cerr when null)
  // Run every Q/DQ pair of a Q/DQ model as written (no fold_qdq_attention: attention scores stay quantized).
  bool exact_qdq = false;
  bool verify_each_pass = false;           // run verify_graph after every pass (tests, debug builds)
  // Stage names other than passes that callers dump themselves (the engine builder prints "import"):
  // accepted in dump_ir_after without error and ignored here.
  std::vector<std::string> external_dump_names = {"import", "precision", "placement"};
};

// Optimizes `g` in place. Types in g.value_types must be inferred before and are kept valid after.
// Errors name the pass that failed.
Status optimize_graph(Graph& g, const PassOptions& options);

// The names of the passes optimize_graph runs for these options, in order (for --dump-ir and docs).
std::vector<std::string> pass_names(const PassOptions& options);

// Every pass name any options can run (the valid names for dump_ir_after, with "all").
std::vector<std::string> all_pass_names();

}  // namespace kiln
