// The engine file: header, metadata, graph, and 64-byte-aligned weights (mmap-friendly).
//
// Layout (little-endian):
//   [0,8)    magic "KILNENG\0"
//   [8,12)   format version (u32)           [12,16) header size (u32, = 64)
//   [16,24)  total file size (u64)          [24,32) FNV-1a 64 checksum of bytes [64, file size)
//   [32,40)  weights offset (u64, 64-aligned)  [40,64) reserved (zero)
//   [64, weights offset)   metadata (EngineInfo, profiles), graph, then (v3) the plan section: one NodePlan per
//                          top-level node (backend, kernel, tactic, tactic name, layout, precision, workspace, note),
//                          then (v4) the guard section: accuracy-guard summary and per-layer precision
//   [weights offset, end)  raw tensor bytes, each tensor 64-byte aligned
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "runtime/backend.h"

namespace kiln {

constexpr char kEngineMagic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};
// 2: EngineInfo.compat (GPU arch, CUDA/cuBLASLt/cuDNN versions). 3: per-node plans (section "plan") instead of the
// kiln_placement / kiln_tactic node attributes. 4: the INT8 accuracy guard's result after the plans (section "guard":
// summary, per-layer precision; empty without a guard); version 3 files still load (no guard). 5: each plan's shape
// tactics (tuned at the other profiles' opt shapes); version 3 and 4 files still load (none). Engines older than
// kMinEngineFormatVersion must be rebuilt.
constexpr uint32_t kEngineFormatVersion = 5;
constexpr uint32_t kMinEngineFormatVersion = 3;
constexpr size_t kEngineHeaderSize = 64;

struct EngineContents {
  std::shared_ptr<Graph> graph;
  EngineInfo info;
  std::vector<OptimizationProfile> profiles;
  std::vector<NodePlan> plans;  // one per graph->nodes (v3)
};

bool looks_like_engine(const std::string& first_bytes);
// `version`: the current format; older ones (down to kMinEngineFormatVersion, without the fields they lack) only for
// tests of the loader's compatibility.
Result<std::string> encode_engine(const Graph& graph, const EngineInfo& info,
                                  const std::vector<OptimizationProfile>& profiles, const std::vector<NodePlan>& plans,
                                  uint32_t version = kEngineFormatVersion);
// `holder` keeps `data` alive; weight tensors point into it without copying.
Result<EngineContents> decode_engine(const char* data, size_t size, std::shared_ptr<void> holder,
                                     const std::string& origin);

}  // namespace kiln
