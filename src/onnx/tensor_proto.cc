// TensorProto <-> Tensor, and .pb/.npy file I/O for values.
#include "onnx/tensor_proto.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "onnx/onnx-data.pb.h"
#include "onnx/onnx-ml.pb.h"

namespace kiln {

namespace {

constexpr size_t kMaxTensorBytes = size_t{1} << 36;  // 64 GiB: a sanity cap on declared sizes

int bits_per_element(DType t) {
  if (t == DType::kInt4 || t == DType::kUInt4 || t == DType::kFloat4E2M1) return 4;
  if (t == DType::kInt2 || t == DType::kUInt2) return 2;
  return 0;
}

// Unpacks `n` sub-byte elements from `packed` (LSB first) into one byte each, sign-extending signed types.
void unpack_sub_byte(DType t, const uint8_t* packed, int64_t n, uint8_t* out) {
  int bits = bits_per_element(t);
  int per_byte = 8 / bits;
  uint8_t mask = static_cast<uint8_t>((1 << bits) - 1);
  bool is_signed = t == DType::kInt4 || t == DType::kInt2;
  for (int64_t i = 0; i < n; ++i) {
    uint8_t v = (packed[i / per_byte] >> ((i % per_byte) * bits)) & mask;
    if (is_signed && (v & (1 << (bits - 1)))) v |= static_cast<uint8_t>(~mask);
    out[i] = v;
  }
}

std::string pack_sub_byte(DType t, const uint8_t* in, int64_t n) {
  int bits = bits_per_element(t);
  int per_byte = 8 / bits;
  uint8_t mask = static_cast<uint8_t>((1 << bits) - 1);
  std::string out(static_cast<size_t>((n + per_byte - 1) / per_byte), '\0');
  for (int64_t i = 0; i < n; ++i) out[i / per_byte] |= static_cast<char>((in[i] & mask) << ((i % per_byte) * bits));
  return out;
}

Result<std::string> read_external(const onnx::TensorProto& p, const std::string& base_dir, size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (...) {
      return invalid_argument("tensor '" + p.name() + "': external_data '" + kv.key() + "' is not a number");
    }
  }
  if (location.empty()) return invalid_argument("tensor '" + p.name() + "': external data has no location");
  std::filesystem::path rel(location);
  if (rel.is_absolute()) return invalid_argument("tensor '" + p.name() + "': external data path '" + location + "' must be relative");
  for (const auto& part : rel)
    if (part == "..") return invalid_argument("tensor '" + p.name() + "': external data path '" + location + "' leaves the model folder");
  std::filesystem::path full = std::filesystem::path(base_dir.empty() ? "." : base_dir) / rel;
  std::ifstream f(full, std::ios::binary);
  if (!f) return not_found("tensor '" + p.name() + "': external data file '" + full.string() + "' not found");
  f.seekg(0, std::ios::end);
  int64_t size = f.tellg();
  if (length < 0) length = static_cast<int64_t>(expected);
  if (offset < 0 || offset > size || length > size - offset)
    return data_loss("tensor '" + p.name() + "': external data range [" + std::to_string(offset) + ", +" +
                     std::to_string(length) + ") is outside '" + full.string() + "' (" + std::to_string(size) + " bytes)");
  std::string buf(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(buf.data(), length);
  if (!f) return data_loss("tensor '" + p.name() + "': could not read external data from '" + full.string() + "'");
  return buf;
}

}  // namespace

Result<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir) {
  DType dt;
  if (!dtype_from_int(p.data_type(), &dt))
    return invalid_argument("tensor '" + p.name() + "': unknown data_type " + std::to_string(p.data_type()));
  if (dt == DType::kComplex64 || dt == DType::kComplex128)
    return unimplemented("tensor '" + p.name() + "': complex tensors are not supported");
  Dims dims(p.dims().begin(), p.dims().end());
  const int64_t n = dims_numel(dims);
  if (n < 0) return invalid_argument("tensor '" + p.name() + "': invalid dims " + dims_to_string(dims));
  if (static_cast<uint64_t>(n) > kMaxTensorBytes / std::max<size_t>(1, dtype_size(dt)))
    return resource_exhausted("tensor '" + p.name() + "': " + dims_to_string(dims) + " of " + dtype_name(dt) +
                              " exceeds the size limit");
  const std::string where = "tensor '" + p.name() + "' (" + dtype_name(dt) + " " + dims_to_string(dims) + ")";
  int bits = bits_per_element(dt);
  size_t packed_bytes = bits ? static_cast<size_t>((n * bits + 7) / 8) : static_cast<size_t>(n) * dtype_size(dt);
  // Check the stored element count against the dims before allocating, so a tiny file cannot make the
  // importer allocate (and zero) gigabytes for a tensor whose data is missing.
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  if (!external && p.has_raw_data() && dt != DType::kString && p.raw_data().size() != packed_bytes)
    return data_loss(where + ": raw data has " + std::to_string(p.raw_data().size()) + " bytes, expected " +
                     std::to_string(packed_bytes));
  if (!external && !p.has_raw_data()) {
    int64_t stored = -1, need = n;
    const char* field = "";
    switch (dt) {
      case DType::kFloat32: stored = p.float_data_size(), field = "float_data"; break;
      case DType::kFloat64: stored = p.double_data_size(), field = "double_data"; break;
      case DType::kInt64: stored = p.int64_data_size(), field = "int64_data"; break;
      case DType::kUInt64: case DType::kUInt32: stored = p.uint64_data_size(), field = "uint64_data"; break;
      case DType::kString: stored = p.string_data_size(), field = "string_data"; break;
      default:
        stored = p.int32_data_size();
        field = bits ? "int32_data (packed)" : "int32_data";
        if (bits) need = (n + 8 / bits - 1) / (8 / bits);
    }
    if (stored != need)
      return data_loss(where + ": " + field + " has " + std::to_string(stored) + " values, expected " + std::to_string(need));
  }
  const std::string* raw = nullptr;
  std::string external_bytes;
  if (external) {
    if (dt == DType::kString) return invalid_argument(where + ": string tensors cannot use external data");
    KILN_ASSIGN_OR_RETURN(external_bytes, read_external(p, base_dir, packed_bytes));
    raw = &external_bytes;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
  }
  if (raw) {
    if (dt == DType::kString) return invalid_argument(where + ": string tensors cannot use raw_data");
    if (raw->size() != packed_bytes)
      return data_loss(where + ": raw data has " + std::to_string(raw->size()) + " bytes, expected " + std::to_string(packed_bytes));
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, dims, kMaxTensorBytes));
  if (raw) {
    if (bits) unpack_sub_byte(dt, reinterpret_cast<const uint8_t*>(raw->data()), n, t.data<uint8_t>());
    else if (packed_bytes) std::memcpy(t.raw(), raw->data(), packed_bytes);
    return t;
  }
  auto count_error = [&](int64_t got, const char* field) {
    return data_loss(where + ": " + field + " has " + std::to_string(got) + " values, expected " + std::to_string(n));
  };
  switch (dt) {
    case DType::kFloat32:
      if (p.float_data_size() != n) return count_error(p.float_data_size(), "float_data");
      std::memcpy(t.raw(), p.float_data().data(), n * 4);
      break;
    case DType::kFloat64:
      if (p.double_data_size() != n) return count_error(p.double_data_size(), "double_data");
      std::memcpy(t.raw(), p.double_data().data(), n * 8);
      break;
    case DType::kInt64:
      if (p.int64_data_size() != n) return count_error(p.int64_data_size(), "int64_data");
      std::memcpy(t.raw(), p.int64_data().data(), n * 8);
      break;
    case DType::kUInt64:
    case DType::kUInt32:
      if (p.uint64_data_size() != n) return count_error(p.uint64_data_size(), "uint64_data");
      for (int64_t i = 0; i < n; ++i) {
        if (dt == DType::kUInt64) t.data<uint64_t>()[i] = p.uint64_data(i);
        else t.data<uint32_t>()[i] = static_cast<uint32_t>(p.uint64_data(i));
      }
      break;
    case DType::kString:
      if (p.string_data_size() != n) return count_error(p.string_data_size(), "string_data");
      for (int64_t i = 0; i < n; ++i) t.strings()[i] = p.string_data(i);
      break;
    default: {
      if (bits) {
        int per = 8 / bits;
        int64_t need = (n + per - 1) / per;
        if (p.int32_data_size() != need) return count_error(p.int32_data_size(), "int32_data (packed)");
        std::string packed(static_cast<size_t>(need), '\0');
        for (int64_t i = 0; i < need; ++i) packed[i] = static_cast<char>(p.int32_data(i));
        unpack_sub_byte(dt, reinterpret_cast<const uint8_t*>(packed.data()), n, t.data<uint8_t>());
        break;
      }
      if (p.int32_data_size() != n) return count_error(p.int32_data_size(), "int32_data");
      size_t es = dtype_size(dt);
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = p.int32_data(i);
        if (es == 1) t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
        else if (es == 2) t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
        else t.data<int32_t>()[i] = v;
      }
      if (dt == DType::kBool)
        for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = t.data<uint8_t>()[i] ? 1 : 0;
    }
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->Clear();
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.dims()) p->add_dims(d);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(t.strings()[i]);
    return;
  }
  if (bits_per_element(t.dtype())) {
    p->set_raw_data(pack_sub_byte(t.dtype(), t.data<uint8_t>(), t.numel()));
    return;
  }
  p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result<Value> sequence_from_proto(const onnx::SequenceProto& s, const std::string& dir) {
  if (s.elem_type() != onnx::SequenceProto::TENSOR && s.elem_type() != onnx::SequenceProto::UNDEFINED)
    return unimplemented("sequence '" + s.name() + "': only sequences of tensors are supported");
  std::vector<Tensor> items;
  DType elem = DType::kUndefined;
  for (const auto& tp : s.tensor_values()) {
    KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, dir));
    elem = t.dtype();
    items.push_back(std::move(t));
  }
  return Value::of_sequence(std::move(items), elem);
}

}  // namespace

Result<Value> load_value_pb(const std::string& path, ValueKind kind, std::string* name_out) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (kind == ValueKind::kSequence) {
    onnx::SequenceProto s;
    if (!s.ParseFromString(bytes)) return data_loss("'" + path + "' is not a valid SequenceProto");
    if (name_out) *name_out = s.name();
    return sequence_from_proto(s, dir);
  }
  if (kind == ValueKind::kOptional) {
    onnx::OptionalProto o;
    if (!o.ParseFromString(bytes)) return data_loss("'" + path + "' is not a valid OptionalProto");
    if (name_out) *name_out = o.name();
    Value v;
    v.kind = ValueKind::kOptional;
    if (o.has_tensor_value()) {
      KILN_ASSIGN_OR_RETURN(v.tensor, tensor_from_proto(o.tensor_value(), dir));
      v.optional_of = ValueKind::kTensor;
      v.elem_dtype = v.tensor.dtype();
    } else if (o.has_sequence_value()) {
      KILN_ASSIGN_OR_RETURN(Value s, sequence_from_proto(o.sequence_value(), dir));
      v.sequence = std::move(s.sequence);
      v.optional_of = ValueKind::kSequence;
      v.elem_dtype = s.elem_dtype;
    } else {
      v.has_value = false;
      v.optional_of = o.elem_type() == onnx::OptionalProto::SEQUENCE ? ValueKind::kSequence : ValueKind::kTensor;
    }
    return v;
  }
  onnx::TensorProto tp;
  if (!tp.ParseFromString(bytes)) return data_loss("'" + path + "' is not a valid TensorProto");
  if (name_out) *name_out = tp.name();
  KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, dir));
  return Value::of(std::move(t));
}

Status save_value_pb(const std::string& path, const Value& v, const std::string& name) {
  std::string bytes;
  if (v.kind == ValueKind::kTensor) {
    onnx::TensorProto tp;
    tensor_to_proto(v.tensor, name, &tp);
    bytes = tp.SerializeAsString();
  } else if (v.kind == ValueKind::kSequence) {
    onnx::SequenceProto s;
    s.set_name(name);
    s.set_elem_type(onnx::SequenceProto::TENSOR);
    for (const auto& t : v.sequence) tensor_to_proto(t, "", s.add_tensor_values());
    bytes = s.SerializeAsString();
  } else {
    onnx::OptionalProto o;
    o.set_name(name);
    if (v.has_value && v.optional_of == ValueKind::kTensor) {
      o.set_elem_type(onnx::OptionalProto::TENSOR);
      tensor_to_proto(v.tensor, "", o.mutable_tensor_value());
    } else if (v.has_value) {
      o.set_elem_type(onnx::OptionalProto::SEQUENCE);
      for (const auto& t : v.sequence) tensor_to_proto(t, "", o.mutable_sequence_value()->add_tensor_values());
    }
    bytes = o.SerializeAsString();
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) return not_found("cannot write '" + path + "'");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f ? ok_status() : internal_error("failed writing '" + path + "'");
}

}  // namespace kiln
