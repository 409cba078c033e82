// Encoder/decoder of the engine file's per-node plan section; the decoder checks every count and enum.
#include "runtime/format/plan_codec.h"

namespace kiln {

namespace {
constexpr const char* kPlanTag = "plan";
// Format 5 adds each plan's shape tactics (NodePlan::shape_tactics).
constexpr uint32_t kShapeTacticsVersion = 5;
}  // namespace

void encode_plans(ByteWriter& w, const std::vector<NodePlan>& plans, uint32_t version) {
  w.str(kPlanTag);
  w.u64(plans.size());
  for (const NodePlan& p : plans) {
    w.str(p.backend);
    w.str(p.kernel);
    w.i64(p.tactic);
    w.str(p.tactic_name);
    w.str(p.layout);
    w.u8(static_cast<uint8_t>(p.precision));
    w.u64(p.workspace);
    w.str(p.note);
    if (version < kShapeTacticsVersion) continue;
    w.u64(p.shape_tactics.size());
    for (const ShapeTactic& t : p.shape_tactics) {
      w.u64(t.dims.size());
      for (int64_t d : t.dims) w.i64(d);
      w.i64(t.tactic);
      w.str(t.tactic_name);
    }
  }
}

std::vector<NodePlan> decode_plans(ByteReader& r, size_t num_nodes, uint32_t version) {
  std::vector<NodePlan> plans;
  if (r.str() != kPlanTag) {
    r.fail("missing plan section");
    return plans;
  }
  uint64_t n = r.count(8 * 6 + 8 + 1);  // six strings' lengths, tactic, workspace, precision
  if (r.ok() && n != num_nodes) {
    r.fail("plan section has " + std::to_string(n) + " entries for " + std::to_string(num_nodes) + " nodes");
    return plans;
  }
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    NodePlan p;
    p.backend = r.str();
    p.kernel = r.str();
    p.tactic = r.i64();
    p.tactic_name = r.str();
    p.layout = r.str();
    uint8_t dt = r.u8();
    if (dt != 0 && !dtype_from_int(dt, &p.precision)) r.fail("unknown plan precision code " + std::to_string(dt));
    p.workspace = r.u64();
    p.note = r.str();
    if (version >= kShapeTacticsVersion) {
      const uint64_t k = r.count(8 + 8 + 8);  // rank, tactic, name length
      for (uint64_t j = 0; j < k && r.ok(); ++j) {
        ShapeTactic t;
        const uint64_t rank = r.count(8);  // bounded by the bytes left
        for (uint64_t d = 0; d < rank && r.ok(); ++d) t.dims.push_back(r.i64());
        t.tactic = r.i64();
        t.tactic_name = r.str();
        if (r.ok() && t.tactic < 0) r.fail("plan of node " + std::to_string(i) + ": negative shape tactic");
        p.shape_tactics.push_back(std::move(t));
      }
    }
    if (r.ok() && p.backend.empty()) r.fail("plan of node " + std::to_string(i) + " names no backend");
    plans.push_back(std::move(p));
  }
  return plans;
}

}  // namespace kiln
