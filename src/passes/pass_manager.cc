// Placeholder pass list (filled in by the optimizer work): no passes yet.
#include "passes/pass_manager.h"

namespace kiln {

Status optimize_graph(Graph& g, const PassOptions& options) { return ok_status(); }

std::vector<std::string> pass_names(const PassOptions& options) { return {}; }

std::vector<std::string> all_pass_names() { return {}; }

}  // namespace kiln
