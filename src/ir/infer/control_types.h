// Type helpers shared by the control-family inference functions (joins of branch/iteration types).
#pragma once
#include "ir/infer_helpers.h"

namespace kiln::control {

// The most precise type that covers both `a` and `b` (differing dims become unknown; differing ranks or
// kinds become unknown). An unknown side yields the other side.
TypeInfo join_types(const TypeInfo& a, const TypeInfo& b);
// The element type of a sequence/optional type; unknown when `t` is not one.
TypeInfo element_type(const TypeInfo& t);

}  // namespace kiln::control
