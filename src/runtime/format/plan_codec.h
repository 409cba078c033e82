// The engine file's "plan" section: one NodePlan per top-level graph node (format version 3 and later).
#pragma once
#include <vector>

#include "runtime/backend.h"
#include "runtime/format/byte_io.h"

namespace kiln {

// Writes the section tag "plan", the count, then each plan's fields (format 5 and later: with its shape tactics).
void encode_plans(ByteWriter& w, const std::vector<NodePlan>& plans, uint32_t version);
// Reads the section written by encode_plans; fails the reader when the tag, the count (must equal num_nodes), a
// dtype code or a field is wrong. `version` is the file's format version (shape tactics from 5 on).
std::vector<NodePlan> decode_plans(ByteReader& r, size_t num_nodes, uint32_t version);

}  // namespace kiln
