// Reference kernels for the sequence ops: construct, empty, at, insert, erase, length, split and concat.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/reference/common.h"
#include "backends/reference/control/control_util.h"

namespace kiln {

namespace {

Status require_sequence(const KernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.error("required input " + std::to_string(i) + " (a sequence) is missing");
  const Value& v = ctx.input_value(i);
  if (v.kind != ValueKind::kSequence)
    return ctx.error("input " + std::to_string(i) + " must be a sequence, got " + control::value_kind_name(v));
  return ok_status();
}

DType sequence_dtype(const Value& seq) {
  if (seq.elem_dtype != DType::kUndefined) return seq.elem_dtype;
  return seq.sequence.empty() ? DType::kUndefined : seq.sequence.front().dtype();
}

// Reads optional input `i` as a position; `*present` false when the input is absent.
Status read_position(const KernelContext& ctx, size_t i, bool* present, int64_t* pos) {
  *present = ctx.has_input(i);
  if (!*present) return ok_status();
  KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  const Tensor& t = ctx.input(i);
  if ((t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) || t.numel() != 1)
    return ctx.error("input " + std::to_string(i) + " 'position' must be an int32/int64 scalar, got " +
                     control::describe_tensor(t));
  *pos = t.as_int64(0);
  return ok_status();
}

}  // namespace

Status sequence_construct_kernel(KernelContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.error("needs at least one input tensor");
  std::vector<Tensor> items;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
    const Tensor& t = ctx.input(i);
    if (!items.empty() && t.dtype() != items[0].dtype())
      return ctx.error("input " + std::to_string(i) + " is " + dtype_name(t.dtype()) + " but input 0 is " +
                       dtype_name(items[0].dtype()) + "; sequence elements must share one dtype");
    items.push_back(t);
  }
  DType dt = items[0].dtype();
  ctx.set_output_value(0, Value::of_sequence(std::move(items), dt));
  return ok_status();
}

Status sequence_empty_kernel(KernelContext& ctx) {
  DType dt = DType::kFloat32;
  if (ctx.attrs().has("dtype")) {
    int64_t code = ctx.attrs().get_int("dtype");
    if (!dtype_from_int(code, &dt) || dt == DType::kUndefined)
      return ctx.error("attribute 'dtype' = " + std::to_string(code) + " is not a valid element type");
  }
  ctx.set_output_value(0, Value::of_sequence({}, dt));
  return ok_status();
}

Status sequence_at_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  const Value& seq = ctx.input_value(0);
  bool present = false;
  int64_t pos = 0;
  KILN_RETURN_IF_ERROR(read_position(ctx, 1, &present, &pos));
  if (!present) return ctx.error("required input 1 'position' is missing");
  const int64_t n = static_cast<int64_t>(seq.sequence.size());
  if (pos < -n || pos >= n)
    return ctx.error("position " + std::to_string(pos) + " is out of range for a sequence of " + std::to_string(n) +
                     " elements (valid: [" + std::to_string(-n) + ", " + std::to_string(n - 1) + "])");
  ctx.set_output(0, seq.sequence[pos < 0 ? pos + n : pos]);
  return ok_status();
}

Status sequence_erase_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  Value out = ctx.input_value(0);
  bool present = false;
  int64_t pos = -1;
  KILN_RETURN_IF_ERROR(read_position(ctx, 1, &present, &pos));
  const int64_t n = static_cast<int64_t>(out.sequence.size());
  if (!present) pos = n - 1;
  if (n == 0) return ctx.error("cannot erase from an empty sequence");
  if (pos < -n || pos >= n)
    return ctx.error("position " + std::to_string(pos) + " is out of range for a sequence of " + std::to_string(n) +
                     " elements");
  if (pos < 0) pos += n;
  out.elem_dtype = sequence_dtype(out);
  out.sequence.erase(out.sequence.begin() + pos);
  ctx.set_output_value(0, std::move(out));
  return ok_status();
}

Status sequence_insert_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
  Value out = ctx.input_value(0);
  const Tensor& t = ctx.input(1);
  DType dt = sequence_dtype(out);
  if (dt != DType::kUndefined && dt != t.dtype())
    return ctx.error(std::string("cannot insert a ") + dtype_name(t.dtype()) + " tensor into a sequence of " +
                     dtype_name(dt));
  bool present = false;
  int64_t pos = 0;
  KILN_RETURN_IF_ERROR(read_position(ctx, 2, &present, &pos));
  const int64_t n = static_cast<int64_t>(out.sequence.size());
  if (!present) pos = n;
  if (pos < -n || pos > n)
    return ctx.error("position " + std::to_string(pos) + " is out of range for inserting into a sequence of " +
                     std::to_string(n) + " elements (valid: [" + std::to_string(-n) + ", " + std::to_string(n) + "])");
  if (pos < 0) pos += n;
  out.sequence.insert(out.sequence.begin() + pos, t);
  out.elem_dtype = t.dtype();
  ctx.set_output_value(0, std::move(out));
  return ok_status();
}

Status sequence_length_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  ctx.set_output(0, Tensor::scalar<int64_t>(DType::kInt64, static_cast<int64_t>(ctx.input_value(0).sequence.size())));
  return ok_status();
}

Status split_to_sequence_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const int64_t rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.error("input 0 must have rank >= 1, got a scalar");
  int64_t axis = 0;
  if (!normalize_axis_index(ctx.attrs().get_int("axis", 0), rank, &axis))
    return ctx.error("attribute 'axis' = " + std::to_string(ctx.attrs().get_int("axis", 0)) +
                     " is out of range for rank " + std::to_string(rank));
  const int64_t dim = x.dim(axis);
  std::vector<Tensor> items;
  if (!ctx.has_input(1)) {
    const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
    for (int64_t i = 0; i < dim; ++i)
      items.push_back(keepdims ? control::slice_along_axis(x, axis, i, 1) : control::take_along_axis(x, axis, i));
  } else {
    KILN_RETURN_IF_ERROR(ctx.require_tensor(1));
    const Tensor& split = ctx.input(1);
    if (split.dtype() != DType::kInt32 && split.dtype() != DType::kInt64)
      return ctx.error(std::string("input 1 'split' must be int32 or int64, got ") + dtype_name(split.dtype()));
    if (split.rank() == 0) {
      const int64_t chunk = split.as_int64(0);
      if (chunk <= 0) return ctx.error("scalar 'split' must be positive, got " + std::to_string(chunk));
      for (int64_t start = 0; start < dim; start += chunk)
        items.push_back(control::slice_along_axis(x, axis, start, std::min(chunk, dim - start)));
    } else if (split.rank() == 1) {
      int64_t start = 0;
      for (int64_t i = 0; i < split.numel(); ++i) {
        const int64_t len = split.as_int64(i);
        if (len < 0 || start + len > dim)
          return ctx.error("split sizes do not fit axis " + std::to_string(axis) + " of size " + std::to_string(dim));
        items.push_back(control::slice_along_axis(x, axis, start, len));
        start += len;
      }
      if (start != dim)
        return ctx.error("split sizes sum to " + std::to_string(start) + " but axis " + std::to_string(axis) +
                         " has size " + std::to_string(dim));
    } else {
      return ctx.error("input 1 'split' must be a scalar or 1-D, got " + control::describe_tensor(split));
    }
  }
  ctx.set_output_value(0, Value::of_sequence(std::move(items), x.dtype()));
  return ok_status();
}

Status concat_from_sequence_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  const std::vector<Tensor>& items = ctx.input_value(0).sequence;
  if (!ctx.attrs().has("axis")) return ctx.error("attribute 'axis' is required");
  if (items.empty()) return ctx.error("cannot concatenate an empty sequence");
  const bool new_axis = ctx.attrs().get_int("new_axis", 0) != 0;
  const int64_t rank = static_cast<int64_t>(items[0].rank());
  const int64_t axis_attr = ctx.attrs().get_int("axis");
  int64_t axis = 0;
  if (!normalize_axis_index(axis_attr, rank + (new_axis ? 1 : 0), &axis))
    return ctx.error("attribute 'axis' = " + std::to_string(axis_attr) + " is out of range for elements of rank " +
                     std::to_string(rank));
  std::string err;
  Tensor out;
  if (new_axis) {
    Tensor stacked = control::stack_leading(items, &err);
    if (stacked.defined()) out = control::move_leading_axis(stacked, axis);
  } else {
    out = control::concat_along_axis(items, axis, &err);
  }
  if (!out.defined()) return ctx.error(err);
  ctx.set_output(0, std::move(out));
  return ok_status();
}

}  // namespace kiln
