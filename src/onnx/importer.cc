// ONNX ModelProto -> IR Graph.
#include "onnx/importer.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ir/shape_inference.h"
#include "onnx/onnx-ml.pb.h"
#include "onnx/ops/normalize.h"
#include "onnx/tensor_proto.h"

namespace kiln {

namespace {

// com.microsoft: only the ONNX Runtime contrib ops listed in ir/ops.def (QLinearAdd, QLinearMul,
// QLinearGlobalAveragePool).
const std::set<std::string> kKnownDomains = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "com.microsoft"};

std::string canonical_domain(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

struct ImportState {
  std::string origin;    // file name for messages
  std::string base_dir;  // for external data
  std::map<std::string, int64_t> opsets;
};

// Whether a dim_param names a dimension shared by every dim that carries it. paddle2onnx writes "?" for each unknown
// dim (H and W of one image input both "?"): read as one name, a 48x192 input was refused because "?" was already
// 48, and shape folding could have equated H and W. A param without a letter, digit or underscore ("?", "*", "-")
// is an anonymous dynamic dim, as ONNX Runtime treats it.
bool names_a_dim(const std::string& p) {
  for (char c : p)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') return true;
  return false;
}

Result<TypeInfo> type_from_proto(const onnx::TypeProto& tp, const std::string& what) {
  switch (tp.value_case()) {
    case onnx::TypeProto::kTensorType: {
      DType dt = DType::kUndefined;
      if (tp.tensor_type().elem_type() != 0 && !dtype_from_int(tp.tensor_type().elem_type(), &dt))
        return invalid_argument(what + ": unknown element type " + std::to_string(tp.tensor_type().elem_type()));
      Shape s;
      if (tp.tensor_type().has_shape()) {
        s.rank_known = true;
        for (const auto& d : tp.tensor_type().shape().dim()) {
          if (d.has_dim_value() && d.dim_value() < 0) {
            // Some exporters (paddle2onnx, older converters) write -1 for a dynamic dimension; ONNX Runtime reads
            // it as unknown, and so do we.
            s.dims.push_back(Dim{});
          } else if (d.has_dim_value()) {
            s.dims.push_back(Dim::known(d.dim_value()));
          } else if (d.has_dim_param() && names_a_dim(d.dim_param())) {
            s.dims.push_back(Dim::named(d.dim_param()));
          } else {
            s.dims.push_back(Dim{});
          }
        }
      }
      return TypeInfo::tensor(dt, s);
    }
    case onnx::TypeProto::kSequenceType: {
      if (!tp.sequence_type().has_elem_type()) return TypeInfo::sequence_of(TypeInfo{});
      KILN_ASSIGN_OR_RETURN(TypeInfo e, type_from_proto(tp.sequence_type().elem_type(), what));
      return TypeInfo::sequence_of(std::move(e));
    }
    case onnx::TypeProto::kOptionalType: {
      if (!tp.optional_type().has_elem_type()) return TypeInfo::optional_of(TypeInfo{});
      KILN_ASSIGN_OR_RETURN(TypeInfo e, type_from_proto(tp.optional_type().elem_type(), what));
      return TypeInfo::optional_of(std::move(e));
    }
    case onnx::TypeProto::VALUE_NOT_SET: return TypeInfo{};
    default: return unimplemented(what + ": map and sparse tensor types are not supported");
  }
}

// TypeProto attributes (Optional's "type") are kept as a compact string: "tensor:<dtype>", "seq:<...>".
std::string type_attr_string(const onnx::TypeProto& tp) {
  switch (tp.value_case()) {
    case onnx::TypeProto::kTensorType: {
      DType dt = DType::kUndefined;
      dtype_from_int(tp.tensor_type().elem_type(), &dt);
      return std::string("tensor:") + dtype_name(dt);
    }
    case onnx::TypeProto::kSequenceType: return "seq:" + type_attr_string(tp.sequence_type().elem_type());
    case onnx::TypeProto::kOptionalType: return "opt:" + type_attr_string(tp.optional_type().elem_type());
    default: return "unknown";
  }
}

Result<GraphPtr> convert_graph(const onnx::GraphProto& gp, ImportState& st, bool top_level);

Result<AttrValue> convert_attribute(const onnx::AttributeProto& a, const std::string& where, ImportState& st) {
  const std::string what = where + " attribute '" + a.name() + "'";
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT: return AttrValue(a.f());
    case onnx::AttributeProto::INT: return AttrValue(static_cast<int64_t>(a.i()));
    case onnx::AttributeProto::STRING: return AttrValue(a.s());
    case onnx::AttributeProto::TENSOR: {
      KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(a.t(), st.base_dir));
      return AttrValue(std::move(t));
    }
    case onnx::AttributeProto::GRAPH: {
      auto r = convert_graph(a.g(), st, false);
      if (!r.ok()) return r.status().with_context(what);
      return AttrValue(std::move(r).value());
    }
    case onnx::AttributeProto::FLOATS: return AttrValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case onnx::AttributeProto::INTS: return AttrValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case onnx::AttributeProto::STRINGS: return AttrValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case onnx::AttributeProto::TENSORS: {
      std::vector<Tensor> ts;
      for (const auto& tp : a.tensors()) {
        KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, st.base_dir));
        ts.push_back(std::move(t));
      }
      return AttrValue(std::move(ts));
    }
    case onnx::AttributeProto::GRAPHS: {
      std::vector<GraphPtr> gs;
      for (const auto& g : a.graphs()) {
        auto r = convert_graph(g, st, false);
        if (!r.ok()) return r.status().with_context(what);
        gs.push_back(std::move(r).value());
      }
      return AttrValue(std::move(gs));
    }
    case onnx::AttributeProto::TYPE_PROTO: return AttrValue(type_attr_string(a.tp()));
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::SPARSE_TENSORS: return unimplemented(what + ": sparse tensor attributes are not supported");
    default: return invalid_argument(what + ": attribute has no type (type " + std::to_string(a.type()) + ")");
  }
}

// Constant node -> initializer tensor.
Result<Tensor> constant_value(const Node& n) {
  const Attrs& a = n.attrs;
  if (const Tensor* t = a.get_tensor("value")) return *t;
  if (a.has("value_float")) return Tensor::scalar<float>(DType::kFloat32, a.get_float("value_float"));
  if (a.has("value_int")) return Tensor::scalar<int64_t>(DType::kInt64, a.get_int("value_int"));
  if (a.has("value_floats")) {
    auto v = a.get_floats("value_floats");
    return Tensor::from_vector<float>(DType::kFloat32, {static_cast<int64_t>(v.size())}, v);
  }
  if (a.has("value_ints")) {
    auto v = a.get_ints("value_ints");
    return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
  }
  if (a.has("value_string")) {
    Tensor t(DType::kString, {});
    t.strings()[0] = a.get_string("value_string");
    return t;
  }
  if (a.has("value_strings")) {
    auto v = a.get_strings("value_strings");
    Tensor t(DType::kString, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
    return t;
  }
  if (a.has("sparse_value")) return unimplemented(n.describe() + ": sparse constants are not supported");
  return invalid_argument(n.describe() + ": Constant has no value attribute");
}

Result<GraphPtr> convert_graph(const onnx::GraphProto& gp, ImportState& st, bool top_level) {
  auto g = std::make_shared<Graph>();
  g->name = gp.name().empty() ? (top_level ? "main" : "subgraph") : gp.name();
  if (top_level) g->opsets = st.opsets;
  if (gp.sparse_initializer_size() > 0) return unimplemented("graph '" + g->name + "': sparse initializers are not supported");
  for (const auto& tp : gp.initializer()) {
    if (tp.name().empty()) return invalid_argument("graph '" + g->name + "': an initializer has no name");
    auto t = tensor_from_proto(tp, st.base_dir);
    if (!t.ok()) return t.status().with_context("graph '" + g->name + "' initializer '" + tp.name() + "'");
    g->initializers[tp.name()] = std::move(t).value();
  }
  for (const auto& vi : gp.input()) {
    if (g->initializers.count(vi.name())) continue;  // input with a default value: treated as a constant
    KILN_ASSIGN_OR_RETURN(TypeInfo t, type_from_proto(vi.type(), "graph input '" + vi.name() + "'"));
    g->inputs.push_back({vi.name(), t});
    g->value_types[vi.name()] = t;
  }
  for (const auto& vi : gp.value_info()) {
    auto t = type_from_proto(vi.type(), "value_info '" + vi.name() + "'");
    if (t.ok()) g->value_types[vi.name()] = std::move(t).value();
  }
  for (const auto& vi : gp.output()) {
    KILN_ASSIGN_OR_RETURN(TypeInfo t, type_from_proto(vi.type(), "graph output '" + vi.name() + "'"));
    g->outputs.push_back({vi.name(), t});
    if (t.known()) g->value_types[vi.name()] = t;
  }
  std::set<std::string> node_names;
  const NormalizeRegistry& normalizers = normalize_registry();
  int index = 0;
  for (const auto& np : gp.node()) {
    Node n;
    std::string domain = canonical_domain(np.domain());
    std::string base = np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
    n.name = base;
    for (int k = 1; node_names.count(n.name); ++k) n.name = base + "_" + std::to_string(k);
    node_names.insert(n.name);
    ++index;
    const std::string where = "node '" + n.name + "' (" + np.op_type() + ")";
    if (!kKnownDomains.count(np.domain()))
      return unimplemented(where + ": domain '" + np.domain() + "' is not supported (only ai.onnx, ai.onnx.ml, ai.onnx.preview.training, com.microsoft)");
    if (!op_from_onnx(domain, np.op_type(), &n.op))
      return unimplemented(where + ": unknown op '" + np.op_type() + "' in domain '" + domain + "'");
    auto ops = st.opsets.find(domain);
    n.opset = static_cast<int>(ops == st.opsets.end() ? 0 : ops->second);
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty()) return unimplemented(where + ": attribute references are only valid in functions");
      KILN_ASSIGN_OR_RETURN(AttrValue v, convert_attribute(a, where, st));
      n.attrs.set(a.name(), std::move(v));
    }
    if (n.op == OpKind::kConstant) {
      if (n.outputs.size() != 1 || n.outputs[0].empty()) return invalid_argument(where + ": Constant must have one output");
      KILN_ASSIGN_OR_RETURN(Tensor t, constant_value(n));
      g->value_types[n.outputs[0]] = TypeInfo::tensor(t.dtype(), Shape::of(t.dims()));
      g->initializers[n.outputs[0]] = std::move(t);
      continue;
    }
    if (NormalizeFn fn = normalizers.find(n.op)) {
      NormalizeContext ctx{*g, n, n.opset};
      KILN_RETURN_IF_ERROR(fn(ctx));
    }
    g->nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace

Result<std::shared_ptr<Graph>> import_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                                 const std::string& origin, const ImportOptions& options) {
  onnx::ModelProto model;
  if (bytes.empty()) return invalid_argument(origin + ": file is empty");
  if (!model.ParseFromString(bytes))
    return invalid_argument(origin + ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX)");
  if (!model.has_graph()) return invalid_argument(origin + ": ONNX model has no graph");
  if (model.ir_version() < 3) return invalid_argument(origin + ": ONNX ir_version " + std::to_string(model.ir_version()) + " is too old (need >= 3)");
  ImportState st{origin, base_dir, {}};
  for (const auto& os : model.opset_import()) {
    std::string d = canonical_domain(os.domain());
    st.opsets[d] = os.version();
  }
  if (model.opset_import_size() == 0) st.opsets["ai.onnx"] = 1;
  auto ai = st.opsets.find("ai.onnx");
  if (ai != st.opsets.end() && ai->second > kMaxSupportedOpset)
    return unimplemented(origin + ": model uses ai.onnx opset " + std::to_string(ai->second) + ", newer than the supported " +
                         std::to_string(kMaxSupportedOpset));
  if (model.functions_size() > 0) {
    // Model-local functions are only an error if a node calls one (checked as an unknown op below).
  }
  auto g = convert_graph(model.graph(), st, true);
  if (!g.ok()) return g.status().with_context(origin);
  Status vs = verify_graph(**g);
  if (!vs.ok()) return vs.with_context(origin);
  if (options.infer_types) {
    Status is = infer_graph_types(**g);
    if (!is.ok()) return is.with_context(origin);
  }
  return g;
}

Result<std::shared_ptr<Graph>> import_onnx_file(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found(path + ": no such model file");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return not_found(path + ": cannot read file size");
  if (size > kMaxModelFileBytes) return invalid_argument(path + ": file is larger than 2 GiB; store weights as external data");
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(path + ": cannot open");
  std::string bytes(size, '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!f) return data_loss(path + ": read failed");
  return import_onnx_bytes(bytes, std::filesystem::path(path).parent_path().string(), path, options);
}

}  // namespace kiln
