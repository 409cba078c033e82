// Layout helpers shared by the control-family kernels: slicing, stacking and concatenating tensors of any dtype.
#pragma once
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace kiln::control {

// Copies `n` elements from src[src_off..] to dst[dst_off..] (same dtype; strings copied as objects).
void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t n);
// The `index`-th slice of `t` along `axis`, with that axis removed.
Tensor take_along_axis(const Tensor& t, int64_t axis, int64_t index);
// Elements [start, start + len) of `t` along `axis` (axis kept, with size len).
Tensor slice_along_axis(const Tensor& t, int64_t axis, int64_t start, int64_t len);
// Stacks equally shaped tensors along a new leading axis. `items` must be non-empty and agree in dtype
// and dims (checked: returns an error message in *err and an undefined tensor otherwise).
Tensor stack_leading(const std::vector<Tensor>& items, std::string* err);
// Moves axis 0 of `t` to position `to` (0 <= to < rank).
Tensor move_leading_axis(const Tensor& t, int64_t to);
// Concatenates tensors along an existing `axis`; all other dims and the dtype must agree (else *err is set).
Tensor concat_along_axis(const std::vector<Tensor>& items, int64_t axis, std::string* err);
// Reads a one-element tensor (any integer dtype) as int64; false if it is not a one-element integer tensor.
bool scalar_int(const Tensor& t, int64_t* out);
// Reads a one-element bool (or numeric) tensor as a truth value; false if it does not have one element.
bool scalar_bool(const Tensor& t, bool* out);
// "float32[2x3]" for messages.
std::string describe_tensor(const Tensor& t);
// "tensor", "sequence", "optional" for messages.
std::string value_kind_name(const Value& v);

}  // namespace kiln::control
