// Engine file encoder/decoder. The decoder trusts nothing: every count, size, enum and offset is checked.
#include "runtime/format/engine_file.h"

#include <cstring>

#include "ir/graph.h"
#include "runtime/format/byte_io.h"
#include "runtime/format/plan_codec.h"

namespace kiln {

namespace {

constexpr int kMaxGraphDepth = 64;

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

// ---------------- encoding ----------------

struct Encoder {
  ByteWriter meta;
  ByteWriter weights;

  void dims(const Dims& d) {
    meta.u64(d.size());
    for (int64_t v : d) meta.i64(v);
  }
  void tensor(const Tensor& t) {
    meta.u8(static_cast<uint8_t>(t.dtype()));
    dims(t.dims());
    if (t.dtype() == DType::kString) {
      for (int64_t i = 0; i < t.numel(); ++i) meta.str(t.strings()[i]);
      return;
    }
    weights.align(64);
    meta.u64(weights.size());
    meta.u64(t.nbytes());
    weights.raw(t.raw(), t.nbytes());
  }
  void type(const TypeInfo& t) {
    meta.u8(static_cast<uint8_t>(t.kind));
    meta.u8(static_cast<uint8_t>(t.dtype));
    meta.u8(t.shape.rank_known ? 1 : 0);
    meta.u64(t.shape.dims.size());
    for (const Dim& d : t.shape.dims) {
      meta.i64(d.value);
      meta.str(d.symbol);
    }
    meta.u8(t.elem ? 1 : 0);
    if (t.elem) type(*t.elem);
  }
  void attr(const AttrValue& v) {
    meta.u8(static_cast<uint8_t>(v.index()));
    switch (static_cast<AttrType>(v.index())) {
      case AttrType::kInt: meta.i64(std::get<int64_t>(v)); break;
      case AttrType::kFloat: meta.f32(std::get<float>(v)); break;
      case AttrType::kString: meta.str(std::get<std::string>(v)); break;
      case AttrType::kTensor: tensor(std::get<Tensor>(v)); break;
      case AttrType::kGraph: graph(*std::get<GraphPtr>(v)); break;
      case AttrType::kInts: {
        const auto& xs = std::get<std::vector<int64_t>>(v);
        meta.u64(xs.size());
        for (int64_t x : xs) meta.i64(x);
        break;
      }
      case AttrType::kFloats: {
        const auto& xs = std::get<std::vector<float>>(v);
        meta.u64(xs.size());
        for (float x : xs) meta.f32(x);
        break;
      }
      case AttrType::kStrings: {
        const auto& xs = std::get<std::vector<std::string>>(v);
        meta.u64(xs.size());
        for (const auto& x : xs) meta.str(x);
        break;
      }
      case AttrType::kTensors: {
        const auto& xs = std::get<std::vector<Tensor>>(v);
        meta.u64(xs.size());
        for (const auto& x : xs) tensor(x);
        break;
      }
      case AttrType::kGraphs: {
        const auto& xs = std::get<std::vector<GraphPtr>>(v);
        meta.u64(xs.size());
        for (const auto& x : xs) graph(*x);
        break;
      }
    }
  }
  void value_infos(const std::vector<ValueInfo>& vs) {
    meta.u64(vs.size());
    for (const auto& v : vs) {
      meta.str(v.name);
      type(v.type);
    }
  }
  void graph(const Graph& g) {
    meta.str(g.name);
    value_infos(g.inputs);
    value_infos(g.outputs);
    meta.u64(g.initializers.size());
    for (const auto& [n, t] : g.initializers) {
      meta.str(n);
      tensor(t);
    }
    meta.u64(g.value_types.size());
    for (const auto& [n, t] : g.value_types) {
      meta.str(n);
      type(t);
    }
    meta.u64(g.opsets.size());
    for (const auto& [d, v] : g.opsets) {
      meta.str(d);
      meta.i64(v);
    }
    meta.u64(g.nodes.size());
    for (const Node& n : g.nodes) {
      meta.u16(static_cast<uint16_t>(n.op));
      meta.str(n.name);
      meta.i64(n.opset);
      meta.u64(n.inputs.size());
      for (const auto& s : n.inputs) meta.str(s);
      meta.u64(n.outputs.size());
      for (const auto& s : n.outputs) meta.str(s);
      meta.u64(n.attrs.all().size());
      for (const auto& [an, av] : n.attrs.all()) {
        meta.str(an);
        attr(av);
      }
    }
  }
};

// ---------------- decoding ----------------

struct Decoder {
  ByteReader& r;
  const char* weights;
  size_t weights_size;
  std::shared_ptr<void> holder;

  Dims dims() {
    uint64_t n = r.count(8);
    Dims d;
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      d.push_back(r.i64());
      if (d.back() < 0) r.fail("negative tensor dimension");
    }
    return d;
  }
  DType dtype(bool allow_undefined) {
    uint8_t v = r.u8();
    DType t = DType::kUndefined;
    if (v == 0 && allow_undefined) return t;
    if (!dtype_from_int(v, &t)) r.fail("unknown dtype code " + std::to_string(v));
    return t;
  }
  Tensor tensor() {
    DType dt = dtype(false);
    Dims d = dims();
    if (!r.ok()) return Tensor();
    int64_t n = dims_numel(d);
    if (n < 0) return r.fail("tensor size overflows"), Tensor();
    if (dt == DType::kString) {
      if (static_cast<uint64_t>(n) > r.remaining() / 8) return r.fail("string tensor larger than the file"), Tensor();
      Tensor t(dt, d);
      for (int64_t i = 0; i < n && r.ok(); ++i) t.strings()[i] = r.str();
      return t;
    }
    uint64_t off = r.u64(), nbytes = r.u64();
    if (!r.ok()) return Tensor();
    if (static_cast<uint64_t>(n) > (uint64_t{1} << 62) / dtype_size(dt) || nbytes != n * dtype_size(dt))
      return r.fail("tensor byte size does not match its dims"), Tensor();
    if (off > weights_size || nbytes > weights_size - off) return r.fail("tensor data lies outside the weights section"), Tensor();
    if (off % 64) return r.fail("tensor data is not 64-byte aligned"), Tensor();
    return Tensor::wrap(dt, d, const_cast<char*>(weights + off), holder);
  }
  TypeInfo type(int depth = 0) {
    TypeInfo t;
    uint8_t kind = r.u8();
    if (kind > 3) r.fail("unknown value kind " + std::to_string(kind));
    t.kind = static_cast<ValueKind>(kind);
    t.dtype = dtype(true);
    t.shape.rank_known = r.u8() != 0;
    uint64_t n = r.count(16);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      Dim d;
      d.value = r.i64();
      d.symbol = r.str();
      t.shape.dims.push_back(std::move(d));
    }
    if (r.u8()) {
      if (depth > kMaxGraphDepth) return r.fail("type nesting too deep"), t;
      t.elem = std::make_shared<TypeInfo>(type(depth + 1));
    }
    return t;
  }
  AttrValue attr(int depth) {
    uint8_t tag = r.u8();
    switch (static_cast<AttrType>(tag)) {
      case AttrType::kInt: return r.i64();
      case AttrType::kFloat: return r.f32();
      case AttrType::kString: return r.str();
      case AttrType::kTensor: return tensor();
      case AttrType::kGraph: return graph(depth + 1);
      case AttrType::kInts: {
        std::vector<int64_t> xs(r.count(8));
        for (auto& x : xs) x = r.i64();
        return xs;
      }
      case AttrType::kFloats: {
        std::vector<float> xs(r.count(4));
        for (auto& x : xs) x = r.f32();
        return xs;
      }
      case AttrType::kStrings: {
        std::vector<std::string> xs(r.count(8));
        for (auto& x : xs) x = r.str();
        return xs;
      }
      case AttrType::kTensors: {
        uint64_t n = r.count(9);
        std::vector<Tensor> xs;
        for (uint64_t i = 0; i < n && r.ok(); ++i) xs.push_back(tensor());
        return xs;
      }
      case AttrType::kGraphs: {
        uint64_t n = r.count(8);
        std::vector<GraphPtr> xs;
        for (uint64_t i = 0; i < n && r.ok(); ++i) xs.push_back(graph(depth + 1));
        return xs;
      }
    }
    r.fail("unknown attribute type " + std::to_string(tag));
    return int64_t{0};
  }
  std::vector<ValueInfo> value_infos() {
    std::vector<ValueInfo> vs;
    uint64_t n = r.count(8);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      ValueInfo v;
      v.name = r.str();
      v.type = type();
      vs.push_back(std::move(v));
    }
    return vs;
  }
  GraphPtr graph(int depth) {
    auto g = std::make_shared<Graph>();
    if (depth > kMaxGraphDepth) return r.fail("subgraphs nested too deep"), g;
    g->name = r.str();
    g->inputs = value_infos();
    g->outputs = value_infos();
    uint64_t ni = r.count(9);
    for (uint64_t i = 0; i < ni && r.ok(); ++i) {
      std::string n = r.str();
      g->initializers[n] = tensor();
    }
    uint64_t nt = r.count(8);
    for (uint64_t i = 0; i < nt && r.ok(); ++i) {
      std::string n = r.str();
      g->value_types[n] = type();
    }
    uint64_t no = r.count(16);
    for (uint64_t i = 0; i < no && r.ok(); ++i) {
      std::string d = r.str();
      g->opsets[d] = r.i64();
    }
    uint64_t nn = r.count(2);
    for (uint64_t i = 0; i < nn && r.ok(); ++i) {
      Node n;
      uint16_t id = r.u16();
      if (!op_from_id(id, &n.op)) {
        r.fail("unknown op id " + std::to_string(id) + " (engine from a newer Kiln?)");
        break;
      }
      n.name = r.str();
      n.opset = static_cast<int>(r.i64());
      uint64_t nin = r.count(8);
      for (uint64_t k = 0; k < nin && r.ok(); ++k) n.inputs.push_back(r.str());
      uint64_t nout = r.count(8);
      for (uint64_t k = 0; k < nout && r.ok(); ++k) n.outputs.push_back(r.str());
      uint64_t na = r.count(9);
      for (uint64_t k = 0; k < na && r.ok(); ++k) {
        std::string an = r.str();
        n.attrs.set(an, attr(depth));
      }
      g->nodes.push_back(std::move(n));
    }
    return g;
  }
};

void encode_profiles(ByteWriter& w, const std::vector<OptimizationProfile>& profiles) {
  w.u64(profiles.size());
  for (const auto& p : profiles) {
    w.u64(p.inputs.size());
    for (const auto& [name, range] : p.inputs) {
      w.str(name);
      for (const Dims* d : {&range.min, &range.opt, &range.max}) {
        w.u64(d->size());
        for (int64_t v : *d) w.i64(v);
      }
    }
  }
}

std::vector<OptimizationProfile> decode_profiles(ByteReader& r) {
  std::vector<OptimizationProfile> out;
  uint64_t np = r.count(8);
  for (uint64_t i = 0; i < np && r.ok(); ++i) {
    OptimizationProfile p;
    uint64_t ni = r.count(32);
    for (uint64_t k = 0; k < ni && r.ok(); ++k) {
      std::string name = r.str();
      ShapeRange range;
      for (Dims* d : {&range.min, &range.opt, &range.max}) {
        uint64_t n = r.count(8);
        for (uint64_t j = 0; j < n && r.ok(); ++j) d->push_back(r.i64());
      }
      p.inputs[name] = std::move(range);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Section "guard" (v4): the INT8 accuracy guard's summary and per-layer precision (empty without a guard).
constexpr const char* kGuardTag = "guard";

void encode_guard(ByteWriter& w, const EngineInfo& info) {
  w.str(kGuardTag);
  w.str(info.accuracy_guard);
  w.u64(info.layer_precision.size());
  for (const auto& [layer, precision] : info.layer_precision) {
    w.str(layer);
    w.str(precision);
  }
}

void decode_guard(ByteReader& r, EngineInfo& info) {
  if (r.str() != kGuardTag) {
    r.fail("missing guard section");
    return;
  }
  info.accuracy_guard = r.str();
  const uint64_t n = r.count(16);  // two string lengths
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string layer = r.str(), precision = r.str();
    if (r.ok() && precision != "int8" && precision != "fp32") r.fail("unknown layer precision '" + precision + "'");
    info.layer_precision.emplace_back(std::move(layer), std::move(precision));
  }
}

}  // namespace

bool looks_like_engine(const std::string& first_bytes) {
  return first_bytes.size() >= 8 && std::memcmp(first_bytes.data(), kEngineMagic, 8) == 0;
}

Result<std::string> encode_engine(const Graph& graph, const EngineInfo& info,
                                  const std::vector<OptimizationProfile>& profiles, const std::vector<NodePlan>& plans,
                                  uint32_t version) {
  if (version < kMinEngineFormatVersion || version > kEngineFormatVersion)
    return internal_error("cannot write engine format version " + std::to_string(version));
  if (!plans.empty() && plans.size() != graph.nodes.size())
    return internal_error("engine has " + std::to_string(plans.size()) + " node plans for " +
                          std::to_string(graph.nodes.size()) + " nodes");
  Encoder e;
  e.meta.str(info.kiln_version);
  e.meta.str(info.backend);
  e.meta.str(info.precision);
  e.meta.str(info.device);
  e.meta.str(info.source);
  e.meta.u32(static_cast<uint32_t>(info.compat.size()));
  for (const auto& [k, v] : info.compat) {
    e.meta.str(k);
    e.meta.str(v);
  }
  encode_profiles(e.meta, profiles);
  e.graph(graph);
  if (plans.empty()) {  // an engine made without the builder (tests): every node on the engine's backend
    NodePlan p;
    p.backend = info.backend.empty() ? "reference" : info.backend;
    encode_plans(e.meta, std::vector<NodePlan>(graph.nodes.size(), p), version);
  } else {
    encode_plans(e.meta, plans, version);
  }
  if (version >= 4) encode_guard(e.meta, info);

  ByteWriter out;
  out.raw(kEngineMagic, 8);
  out.u32(version);
  out.u32(kEngineHeaderSize);
  out.u64(0);  // file size, patched below
  out.u64(0);  // checksum, patched below
  out.u64(0);  // weights offset, patched below
  out.align(kEngineHeaderSize);
  out.raw(e.meta.bytes().data(), e.meta.size());
  out.align(64);
  uint64_t weights_offset = out.size();
  out.raw(e.weights.bytes().data(), e.weights.size());
  std::string& b = out.bytes();
  uint64_t size = b.size();
  uint64_t sum = fnv1a(b.data() + kEngineHeaderSize, size - kEngineHeaderSize);
  std::memcpy(&b[16], &size, 8);
  std::memcpy(&b[24], &sum, 8);
  std::memcpy(&b[32], &weights_offset, 8);
  return std::move(b);
}

Result<EngineContents> decode_engine(const char* data, size_t size, std::shared_ptr<void> holder,
                                     const std::string& origin) {
  if (size < 8 || std::memcmp(data, kEngineMagic, 8) != 0)
    return invalid_argument(origin + ": not a Kiln engine file (bad magic)");
  if (size < kEngineHeaderSize)
    return data_loss(origin + ": truncated engine file (" + std::to_string(size) + " bytes, header needs 64)");
  uint32_t version, header_size;
  uint64_t file_size, sum, weights_offset;
  std::memcpy(&version, data + 8, 4);
  std::memcpy(&header_size, data + 12, 4);
  std::memcpy(&file_size, data + 16, 8);
  std::memcpy(&sum, data + 24, 8);
  std::memcpy(&weights_offset, data + 32, 8);
  if (version > kEngineFormatVersion)
    return failed_precondition(origin + ": engine format version " + std::to_string(version) +
                               " is newer than this Kiln supports (" + std::to_string(kEngineFormatVersion) +
                               "); rebuild the engine with this Kiln or upgrade Kiln");
  if (version < 1) return data_loss(origin + ": invalid engine format version 0");
  if (version < kMinEngineFormatVersion)
    return failed_precondition(origin + ": engine format version " + std::to_string(version) +
                               " is older than this Kiln supports (" + std::to_string(kMinEngineFormatVersion) +
                               "); rebuild the engine with this Kiln");
  if (header_size != kEngineHeaderSize) return data_loss(origin + ": invalid engine header size");
  if (file_size != size)
    return data_loss(origin + ": truncated or padded engine file (header says " + std::to_string(file_size) +
                     " bytes, file has " + std::to_string(size) + ")");
  if (fnv1a(data + kEngineHeaderSize, size - kEngineHeaderSize) != sum)
    return data_loss(origin + ": engine file is corrupt (checksum mismatch)");
  if (weights_offset < kEngineHeaderSize || weights_offset > size || weights_offset % 64)
    return data_loss(origin + ": invalid weights offset in engine header");
  ByteReader r(data + kEngineHeaderSize, weights_offset - kEngineHeaderSize, origin);
  EngineContents c;
  c.info.format_version = version;
  c.info.kiln_version = r.str();
  c.info.backend = r.str();
  c.info.precision = r.str();
  c.info.device = r.str();
  c.info.source = r.str();
  if (version >= 2) {
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && r.status().ok(); ++i) {
      std::string k = r.str();
      c.info.compat[k] = r.str();
    }
  }
  c.profiles = decode_profiles(r);
  Decoder d{r, data + weights_offset, size - weights_offset, std::move(holder)};
  c.graph = d.graph(0);
  if (r.ok()) c.plans = decode_plans(r, c.graph->nodes.size(), version);
  if (r.ok() && version >= 4) decode_guard(r, c.info);
  KILN_RETURN_IF_ERROR(r.status());
  Status vs = verify_graph(*c.graph);
  if (!vs.ok()) return data_loss(origin + ": engine graph is invalid: " + vs.message());
  return c;
}

}  // namespace kiln
