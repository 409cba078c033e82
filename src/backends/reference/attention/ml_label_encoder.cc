// Reference kernel for ai.onnx.ml LabelEncoder (opsets 1-4): maps each input element through a key->value table.
#include <cmath>
#include <map>

#include "backends/reference/attention/float_io.h"
#include "backends/reference/attention/kernels.h"

namespace kiln {
using namespace attn;  // NOLINT: this family's helpers
namespace {

enum class Kind { kNone, kString, kInt, kFloat };

// A column of keys or values: strings, integers or floats, plus the tensor dtype it maps to.
struct Column {
  Kind kind = Kind::kNone;
  DType dtype = DType::kUndefined;
  std::vector<std::string> s;
  std::vector<int64_t> i;
  std::vector<double> f;
  size_t size() const { return kind == Kind::kString ? s.size() : kind == Kind::kInt ? i.size() : f.size(); }
};

Kind kind_of(DType t) {
  if (t == DType::kString) return Kind::kString;
  if (is_integer(t)) return Kind::kInt;
  if (is_float(t)) return Kind::kFloat;
  return Kind::kNone;
}

Column column_from_tensor(const Tensor& t) {
  Column c;
  c.dtype = t.dtype();
  c.kind = kind_of(t.dtype());
  for (int64_t k = 0; k < t.numel(); ++k) {
    if (c.kind == Kind::kString)
      c.s.push_back(t.strings()[k]);
    else if (c.kind == Kind::kInt)
      c.i.push_back(t.as_int64(k));
    else if (c.kind == Kind::kFloat)
      c.f.push_back(t.as_double(k));
  }
  return c;
}

// Reads "<prefix>_strings", "<prefix>_int64s", "<prefix>_floats" or "<prefix>_tensor".
Column read_column(const Attrs& a, const std::string& prefix) {
  Column c;
  if (a.has(prefix + "_strings")) {
    c.kind = Kind::kString;
    c.dtype = DType::kString;
    c.s = a.get_strings(prefix + "_strings");
  } else if (a.has(prefix + "_int64s")) {
    c.kind = Kind::kInt;
    c.dtype = DType::kInt64;
    c.i = a.get_ints(prefix + "_int64s");
  } else if (a.has(prefix + "_floats")) {
    c.kind = Kind::kFloat;
    c.dtype = DType::kFloat32;
    for (float v : a.get_floats(prefix + "_floats")) c.f.push_back(v);
  } else if (const Tensor* t = a.get_tensor(prefix + "_tensor")) {
    c = column_from_tensor(*t);
  }
  return c;
}

// The default value as a one-entry column of the values' kind.
Status read_default(const KernelContext& ctx, const Column& values, Column* def) {
  const auto& a = ctx.attrs();
  def->kind = values.kind;
  def->dtype = values.dtype;
  if (const Tensor* t = a.get_tensor("default_tensor"); t && a.has("values_tensor")) {
    if (t->numel() != 1) return ctx.error("default_tensor must hold exactly one value");
    if (t->dtype() != values.dtype) return ctx.error("default_tensor dtype differs from values_tensor dtype");
    *def = column_from_tensor(*t);
    return ok_status();
  }
  switch (values.kind) {
    case Kind::kString:
      def->s = {a.get_string("default_string", "_Unused")};
      break;
    case Kind::kInt:
      def->i = {a.get_int("default_int64", -1)};
      break;
    case Kind::kFloat:
      def->f = {a.get_float("default_float", -0.f)};
      break;
    default:
      break;
  }
  if (a.has("values_tensor") && !a.has("default_tensor")) {
    // The tensor form's defaults: "_Unused", -1 or -0.0 by kind.
    if (values.kind == Kind::kInt) def->i = {-1};
    if (values.kind == Kind::kFloat) def->f = {-0.0};
  }
  return ok_status();
}

bool same_key(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

}  // namespace

Status ml_label_encoder_kernel(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.require_tensor(0));
  const Tensor& x = ctx.input(0);
  const auto& a = ctx.attrs();
  const Kind in_kind = kind_of(x.dtype());
  if (in_kind == Kind::kNone || is_sub_byte(x.dtype()))
    return ctx.unsupported(std::string("input dtype ") + dtype_name(x.dtype()) + " is not supported");

  Column keys, values, def;
  if (a.has("classes_strings")) {
    // Opset 1: strings map to their index in classes_strings, integers map back to the class string.
    const std::vector<std::string> classes = a.get_strings("classes_strings");
    if (in_kind == Kind::kString) {
      keys = {Kind::kString, DType::kString, classes, {}, {}};
      values = {Kind::kInt, DType::kInt64, {}, {}, {}};
      for (size_t k = 0; k < classes.size(); ++k) values.i.push_back(static_cast<int64_t>(k));
      def = {Kind::kInt, DType::kInt64, {}, {a.get_int("default_int64", -1)}, {}};
    } else if (in_kind == Kind::kInt) {
      keys = {Kind::kInt, DType::kInt64, {}, {}, {}};
      for (size_t k = 0; k < classes.size(); ++k) keys.i.push_back(static_cast<int64_t>(k));
      values = {Kind::kString, DType::kString, classes, {}, {}};
      def = {Kind::kString, DType::kString, {a.get_string("default_string", "_Unused")}, {}, {}};
    } else {
      return ctx.error("opset-1 LabelEncoder input must be string or int64");
    }
  } else {
    keys = read_column(a, "keys");
    values = read_column(a, "values");
    if (keys.kind == Kind::kNone) return ctx.error("no keys_* attribute is set");
    if (values.kind == Kind::kNone) return ctx.error("no values_* attribute is set");
    if (keys.size() != values.size())
      return ctx.error("keys and values have different lengths (" + std::to_string(keys.size()) + " vs " +
                       std::to_string(values.size()) + ")");
    KILN_RETURN_IF_ERROR(read_default(ctx, values, &def));
  }
  if (keys.kind != in_kind)
    return ctx.error(std::string("input dtype ") + dtype_name(x.dtype()) + " does not match the keys' type");

  // Lookup tables: the first occurrence of a key wins.
  std::map<std::string, size_t> str_index;
  std::map<int64_t, size_t> int_index;
  for (size_t k = keys.size(); k-- > 0;) {
    if (keys.kind == Kind::kString) str_index[keys.s[k]] = k;
    if (keys.kind == Kind::kInt) int_index[keys.i[k]] = k;
  }
  auto lookup = [&](int64_t e) -> int64_t {  // index into values, or -1 for the default
    if (in_kind == Kind::kString) {
      auto it = str_index.find(x.strings()[e]);
      return it == str_index.end() ? -1 : static_cast<int64_t>(it->second);
    }
    if (in_kind == Kind::kInt) {
      auto it = int_index.find(x.as_int64(e));
      return it == int_index.end() ? -1 : static_cast<int64_t>(it->second);
    }
    const double v = x.as_double(e);
    for (size_t k = 0; k < keys.f.size(); ++k) {
      if (same_key(keys.f[k], v)) return static_cast<int64_t>(k);
    }
    return -1;
  };

  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(values.dtype, x.dims()));
  std::vector<double> fvals;
  for (int64_t e = 0; e < x.numel(); ++e) {
    const int64_t k = lookup(e);
    const Column& src = k < 0 ? def : values;
    const size_t at = k < 0 ? 0 : static_cast<size_t>(k);
    switch (values.kind) {
      case Kind::kString:
        y.strings()[e] = src.s[at];
        break;
      case Kind::kInt: {
        const int64_t v = src.i[at];
        switch (values.dtype) {
          case DType::kInt64:
            y.data<int64_t>()[e] = v;
            break;
          case DType::kInt32:
            y.data<int32_t>()[e] = static_cast<int32_t>(v);
            break;
          case DType::kInt16:
            y.data<int16_t>()[e] = static_cast<int16_t>(v);
            break;
          case DType::kInt8:
            y.data<int8_t>()[e] = static_cast<int8_t>(v);
            break;
          case DType::kUInt64:
            y.data<uint64_t>()[e] = static_cast<uint64_t>(v);
            break;
          case DType::kUInt32:
            y.data<uint32_t>()[e] = static_cast<uint32_t>(v);
            break;
          case DType::kUInt16:
            y.data<uint16_t>()[e] = static_cast<uint16_t>(v);
            break;
          case DType::kUInt8:
            y.data<uint8_t>()[e] = static_cast<uint8_t>(v);
            break;
          default:
            return ctx.unsupported(std::string("values dtype ") + dtype_name(values.dtype));
        }
        break;
      }
      case Kind::kFloat:
        fvals.push_back(src.f[at]);
        break;
      default:
        break;
    }
  }
  if (values.kind == Kind::kFloat) {
    KILN_ASSIGN_OR_RETURN(y, make_tensor_from_doubles(values.dtype, x.dims(), fvals));
  }
  ctx.set_output(0, std::move(y));
  return ok_status();
}

}  // namespace kiln
