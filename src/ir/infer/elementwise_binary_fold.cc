// Build-time evaluation of elementwise_binary ops on small integer constants (shape arithmetic such as
// Mul(Gather(Shape(x)), 2) or Where(Equal(shape, 0), ...)), so that Reshape/Expand targets stay inferable.
#include "ir/infer_helpers.h"

namespace kiln {

namespace {

constexpr int64_t kMaxFoldElements = 4096;

bool foldable_dtype(DType t) { return t == DType::kInt64 || t == DType::kInt32 || t == DType::kBool; }

// Numpy broadcast of concrete dims; false if incompatible.
bool broadcast_concrete(const Dims& a, const Dims& b, Dims* out) {
  const size_t r = std::max(a.size(), b.size());
  Dims d(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x != y && x != 1 && y != 1) return false;
    d[i] = x == 1 ? y : x;
  }
  *out = std::move(d);
  return true;
}

// Linear index into a tensor of `in` dims for output element k of `out` dims (broadcast).
int64_t source_index(const Dims& in, const Dims& out, int64_t k) {
  int64_t idx = 0, stride = 1;
  for (int64_t d = static_cast<int64_t>(out.size()) - 1, j = static_cast<int64_t>(in.size()) - 1; d >= 0; --d, --j) {
    const int64_t coord = k % out[d];
    k /= out[d];
    if (j >= 0) {
      if (in[j] != 1) idx += coord * stride;
      stride *= in[j];
    }
  }
  return idx;
}

// One element of a binary op on int64 values; false if it cannot be evaluated (division by zero).
bool eval_binary(OpKind op, int64_t a, int64_t b, int64_t fmod, int64_t* r) {
  switch (op) {
    case OpKind::kAdd:
    case OpKind::kSum:
      *r = static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      return true;
    case OpKind::kSub:
      *r = static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
      return true;
    case OpKind::kMul:
      *r = static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      return true;
    case OpKind::kDiv:
      if (b == 0 || b == -1) return false;
      *r = a / b;
      return true;
    case OpKind::kMod:
      if (b == 0 || b == -1) return false;
      *r = a % b;
      if (!fmod && *r != 0 && ((*r < 0) != (b < 0))) *r += b;
      return true;
    case OpKind::kMax:
      *r = std::max(a, b);
      return true;
    case OpKind::kMin:
      *r = std::min(a, b);
      return true;
    case OpKind::kEqual:
      *r = a == b;
      return true;
    case OpKind::kGreater:
      *r = a > b;
      return true;
    case OpKind::kGreaterOrEqual:
      *r = a >= b;
      return true;
    case OpKind::kLess:
      *r = a < b;
      return true;
    case OpKind::kLessOrEqual:
      *r = a <= b;
      return true;
    case OpKind::kAnd:
      *r = (a != 0) && (b != 0);
      return true;
    case OpKind::kOr:
      *r = (a != 0) || (b != 0);
      return true;
    case OpKind::kXor:
      *r = (a != 0) != (b != 0);
      return true;
    default:
      return false;
  }
}

bool is_comparison(OpKind op) {
  return op == OpKind::kEqual || op == OpKind::kGreater || op == OpKind::kGreaterOrEqual || op == OpKind::kLess ||
         op == OpKind::kLessOrEqual || op == OpKind::kAnd || op == OpKind::kOr || op == OpKind::kXor;
}

void store(Tensor& t, int64_t k, int64_t v) {
  switch (t.dtype()) {
    case DType::kInt64:
      t.data<int64_t>()[k] = v;
      break;
    case DType::kInt32:
      t.data<int32_t>()[k] = static_cast<int32_t>(v);
      break;
    case DType::kBool:
      t.data<uint8_t>()[k] = v != 0;
      break;
    default:
      break;
  }
}

}  // namespace

bool fold_small_int_constants(const InferContext& ctx, Tensor* out) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return false;
  if (ctx.opset() < 7 && ctx.attrs().get_int("broadcast", 0) != 0) return false;
  std::vector<const Tensor*> ins;
  Dims dims;
  for (size_t i = 0; i < n; ++i) {
    const Tensor* t = ctx.input_value(i);
    if (!t || !foldable_dtype(t->dtype()) || t->numel() > kMaxFoldElements) return false;
    if (!broadcast_concrete(dims, t->dims(), &dims)) return false;
    ins.push_back(t);
  }
  if (dims_numel(dims) < 0 || dims_numel(dims) > kMaxFoldElements) return false;
  const OpKind op = ctx.node().op;
  const int64_t fmod = ctx.attrs().get_int("fmod", 0);
  DType out_t;
  if (op == OpKind::kWhere) {
    if (n != 3 || ins[0]->dtype() != DType::kBool || ins[1]->dtype() != ins[2]->dtype()) return false;
    out_t = ins[1]->dtype();
  } else {
    for (const Tensor* t : ins)
      if (t->dtype() != ins[0]->dtype()) return false;
    if (ins[0]->dtype() == DType::kBool && !is_comparison(op)) return false;
    out_t = is_comparison(op) ? DType::kBool : ins[0]->dtype();
  }
  Tensor result(out_t, dims);
  const int64_t total = result.numel();
  for (int64_t k = 0; k < total; ++k) {
    int64_t acc = 0;
    if (op == OpKind::kWhere) {
      const bool c = ins[0]->as_int64(source_index(ins[0]->dims(), dims, k)) != 0;
      const Tensor* src = c ? ins[1] : ins[2];
      acc = src->as_int64(source_index(src->dims(), dims, k));
    } else {
      acc = ins[0]->as_int64(source_index(ins[0]->dims(), dims, k));
      if (n == 1 && !(op == OpKind::kMax || op == OpKind::kMin || op == OpKind::kSum)) return false;
      for (size_t i = 1; i < n; ++i) {
        int64_t r = 0;
        if (!eval_binary(op, acc, ins[i]->as_int64(source_index(ins[i]->dims(), dims, k)), fmod, &r)) return false;
        acc = r;
      }
    }
    store(result, k, acc);
  }
  *out = std::move(result);
  return true;
}

}  // namespace kiln
